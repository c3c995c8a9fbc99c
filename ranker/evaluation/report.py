"""Evaluation output for machines and people: the result as JSON, Markdown tables, and a self-contained HTML report
with plots (metric@K curves per split and mode, NDCG by user activity) embedded as PNG images. Each full-ranking run
also gets a cold-start table (:func:`cold_start_rows`): the primary metric by the user's history size, and how many
of the targets without a training event (cold items) and with one each ranker finds."""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path

ATTRIBUTION_NOTE = "Every number comes from one run; the confidence intervals are paired bootstrap, 95%."


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _curves(run: dict, ks: list[int]) -> str:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    metrics = ("ndcg", "recall", "hr") if run["protocol"] == "full" else ("ndcg", "hr")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2))
    for ax, metric in zip(axes, metrics, strict=True):
        for row in run["rows"]:
            ax.plot(ks, [row["metrics"][f"{metric}@{k}"] for k in ks], marker="o", label=row["name"])
        ax.set_xlabel("K")
        ax.set_ylabel(f"{metric}@K")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{run['split']} / already-bought {run['mode']} / {run['protocol']}", fontsize=10)
    image = _png(fig)
    plt.close(fig)
    return image


def _activity(run: dict, metric: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = list(run["by_activity"])
    names = [row["name"] for row in run["rows"]]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        ax.bar(np.arange(len(groups)) + i * width, [run["by_activity"][g][name] for g in groups], width, label=name)
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{g}\n({run['by_activity'][g]['cases']} users)" for g in groups], fontsize=8)
    ax.set_xlabel("distinct items in the user's history")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    ax.set_title(f"{metric} by user activity: {run['split']} / already-bought {run['mode']}", fontsize=10)
    image = _png(fig)
    plt.close(fig)
    return image


def cold_start_rows(run: dict, primary: str) -> tuple[list[str], list[list[str]]]:
    """The cold-start table of a full-ranking run (``primary``: the run's primary metric, e.g. ``ndcg@10``, whose K
    the cold-item recall is measured at): its header and one row of cells per ranker."""
    groups, items = run["by_activity"], run.get("by_item_history") or {}
    k = primary.split("@")[1]
    header = ["ranker", *(f"{primary} users {g} ({groups[g]['cases']})" for g in groups)]
    header += [f"recall@{k} {group} items ({items[group]['targets']} targets)" for group in items]
    rows = []
    for row in run["rows"]:
        name = row["name"]
        cells = [f"{groups[g][name]:.4f}" for g in groups]
        cells += ["-" if items[group][name] is None else f"{items[group][name]:.4f}" for group in items]
        rows.append([name, *cells])
    return header, rows


def _cold_start_html(run: dict, primary: str) -> str:
    header, rows = cold_start_rows(run, primary)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr><th>" + html.escape(r[0]) + "</th>" + "".join(f"<td>{c}</td>" for c in r[1:]) + "</tr>"
                   for r in rows)  # fmt: skip
    return (
        f"<p>Cold start: users by distinct history items; targets without (cold) and with training events.</p>"
        f"<table><tr>{head}</tr>{body}</table>"
    )


def _table(run: dict, ks: list[int]) -> str:
    metric_names = [m for m in run["rows"][0]["metrics"] if m.split("@")[-1] in map(str, ks) or "@" not in m]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metric_names)
    body = []
    for row in run["rows"]:
        cells = "".join(f"<td>{_fmt(row['metrics'][m])}</td>" for m in metric_names)
        ci = row.get("vs_best_baseline", {}).get("ndcg@10")
        ci_text = (
            f"{ci['diff']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]"
            + (f" ({ci['relative']:+.1%})" if ci["relative"] is not None else "")
            if ci else ("best baseline" if row["name"] == run["best_baseline"] else "")
        )  # fmt: skip
        body.append(f"<tr><th>{html.escape(row['name'])}</th><td>{row['kind']}</td>{cells}<td>{ci_text}</td></tr>")
    return (
        f"<table><tr><th>ranker</th><th>kind</th>{head}<th>NDCG@10 vs best baseline (95% CI)</th></tr>"
        + "".join(body)
        + "</table>"
    )


def search_rows(search: dict) -> tuple[str, list[str], list[list[str]]]:
    """The personalized-search protocol of one split as a title, a header and rows (per ranker, part and weight;
    ``*`` marks the served weight)."""
    header = ["ranker", "users", "weight", "MRR", "MRR / anonymous", "ΔMRR [95% CI]", "adherence@10",
              "adherence / anonymous"]  # fmt: skip
    rows = []
    served = f"{search['served_weight']:g}"
    for row in search["rows"]:
        for part in ("validation", "test"):
            found = row.get(part)
            if not found:
                continue
            anon = found["anonymous"]
            rows.append([f"{row['name']} ({part})", str(found["searches"]), "0 (anonymous)", f"{anon['mrr']:.4f}",
                         "1.00", "", f"{anon['adherence@10']:.3f}", "1.00"])  # fmt: skip
            for w in found["weights"]:
                d = w["mrr_diff"]
                ratio = lambda v: f"{v:.2f}" if v is not None else "n/a"  # noqa: E731
                rows.append([
                    "", "", w["weight"] + (" *" if w["weight"] == served else ""), f"{w['mrr']:.4f}",
                    ratio(w["mrr_ratio"]), f"{d['diff']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]",
                    f"{w['adherence@10']:.3f}", ratio(w["adherence_ratio"]),
                ])  # fmt: skip
    title = (
        f"{search['split']} split · personalized search: a query of the {search['words']} most common title words "
        "of a newly bought item; the user's order fused with the query's at each weight (* served)"
    )
    return title, header, rows


def explanation_lines(result: dict) -> list[str]:
    """One line per split and ranker on how distinct its explanations are, then its example users' results."""
    lines = []
    for found in result.get("explanations", []):
        for row in found["rows"]:
            lines.append(
                f"{found['split']} split · {row['name']} explanations over {row['users']} users' top 10: "
                f"{row['distinct_first']:.0%} of the results name a first history item of their own, "
                f"{row['distinct_lists']:.0%} a list of their own; "
                f"the first item's mean weight {row['first_weight']:.2f}"
            )
            for example in row["examples"]:
                for r in example["results"]:
                    lines.append(f"  user {example['user']}: {r['item']} ← because of {'; '.join(r['because'])}")
    return lines


def peer_lines(run: dict, primary: str) -> list[str]:
    """Each model row's paired bootstrap difference with each peer (the published recommenders), one line each."""
    lines = []
    for row in run["rows"]:
        for peer, d in row.get("vs_peers", {}).items():
            lines.append(f"- {row['name']} vs {peer}: Δ{primary} {d['diff']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]")
    return [*lines, ""] if lines else []


def sequence_weight_lines(result: dict) -> list[str]:
    """The sequence model's weight sweep: per split and ranker, the primary metric at each weight on validation and
    test users (already-bought items excluded / eligible); ``*`` marks the served weight."""
    primary = result["config"]["primary"]
    lines = []
    for found in result.get("sequence_weight", []):
        for ranker in found["rows"]:
            best = ranker["best_on_validation"]
            lines.append(
                f"{found['split']} split · {ranker['name']}: {primary} by the weight of the sequence model's "
                f"order (best on validation: {best['excluded']:g} excluded, {best['eligible']:g} eligible)"
            )
            lines.append(f"  {'weight':>8} {'valid/excl':>11} {'valid/elig':>11} {'test/excl':>11} {'test/elig':>11}")
            for row in ranker["rows"]:
                mark = "*" if row["weight"] == ranker["served"] else " "
                cells = " ".join(f"{row[key]:>11.4f}" if row[key] is not None else f"{'n/a':>11}"
                                 for key in ("validation/excluded", "validation/eligible", "test/excluded",
                                             "test/eligible"))  # fmt: skip
                lines.append(f"  {row['weight']:>7g}{mark} {cells}")
    return lines


def _search_html(result: dict) -> str:
    parts = []
    for search in result.get("search", []):
        title, header, rows = search_rows(search)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        examples = "; ".join(f"{e['user']}: '{e['query']}' (bought {e['bought']})" for e in search["examples"])
        parts.append(f"<h2>{html.escape(title)}</h2><p>Examples: {html.escape(examples)}</p>"
                     f"<table><tr>{head}</tr>{body}</table>")  # fmt: skip
    return "".join(parts)


def render_html(result: dict) -> str:
    """The whole report as one HTML page."""
    ks = list(result["config"]["ks"])
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>recsearch evaluation</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th:first-child{text-align:left}"
        "</style></head><body><h1>recsearch evaluation</h1>",
        f"<p>{html.escape(ATTRIBUTION_NOTE)} Generated {html.escape(result.get('generated', ''))}.</p>",
        "<h2>Data</h2><pre>" + html.escape(json.dumps({k: result[k] for k in ("events", "catalog")}, indent=2))
        + "</pre><h2>Splits</h2><pre>" + html.escape(json.dumps(result["splits"], indent=2)) + "</pre>",
    ]  # fmt: skip
    for run in result["runs"]:
        title = f"{run['split']} split, already-bought items {run['mode']}, {run['protocol']} protocol"
        detail = (
            f"{run['cases']} users, {run['targets']} targets, {run['repeat_targets']} of them repeat purchases"
            + (f"; each target ranked against {run['negatives']} sampled negatives" if run["protocol"] == "sampled"
               else "; ranked over the whole catalog")
        )  # fmt: skip
        parts.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(detail)}</p>{_table(run, ks)}")
        versus = peer_lines(run, result["config"]["primary"])
        if versus:
            parts.append("<pre>" + html.escape("\n".join(versus)) + "</pre>")
        parts.append(f"<p><img src='data:image/png;base64,{_curves(run, ks)}'></p>")
        if run.get("by_activity"):
            primary = result["config"]["primary"]
            parts.append(_cold_start_html(run, primary))
            parts.append(f"<p><img src='data:image/png;base64,{_activity(run, primary)}'></p>")
    parts.append(_search_html(result))
    if result.get("sequence_weight"):
        parts.append("<h2>The sequence model's order</h2><pre>" + html.escape("\n".join(sequence_weight_lines(result)))
                     + "</pre>")  # fmt: skip
    if result.get("explanations"):
        parts.append("<h2>Explanations</h2><pre>" + html.escape("\n".join(explanation_lines(result))) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(result: dict, k: int = 10) -> str:
    """The result as Markdown tables (one per split, mode and protocol), for docs and pull requests."""
    lines = []
    for run in result["runs"]:
        full = run["protocol"] == "full"
        names = ["ndcg", "recall", "hr", "mrr", "map", "precision", "f1", "coverage"] if full else ["ndcg", "hr"]
        cols = [f"{n}@{k}" for n in names] + ([] if full else ["mrr"])
        what = "full ranking over the catalog" if full else f"sampled, {run['negatives']} negatives per target"
        lines += [
            f"**{run['split']} split, already-bought {run['mode']}, {what}**: {run['cases']} users, "
            f"{run['targets']} targets, {run['repeat_targets']} repeat purchases",
            "",
            "| ranker | " + " | ".join(cols) + f" | Δndcg@{k} vs best baseline [95% CI] |",
            "| --- |" + " ---: |" * (len(cols) + 1),
        ]
        for row in run["rows"]:
            ci = row.get("vs_best_baseline", {}).get(f"ndcg@{k}")
            if ci:
                rel = f" ({ci['relative']:+.1%})" if ci["relative"] is not None else ""
                delta = f"{ci['diff']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]{rel}"
            else:
                delta = "best baseline" if row["name"] == run["best_baseline"] else ""
            cells = " | ".join(f"{row['metrics'][c]:.4f}" for c in cols)
            lines.append(f"| {row['name']} | {cells} | {delta} |")
        lines.append("")
        lines += peer_lines(run, result["config"]["primary"])
        if run.get("by_activity"):
            header, rows = cold_start_rows(run, result["config"]["primary"])
            lines += ["Cold start: users by distinct history items; targets without (cold) and with training events.",
                      "", "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1),
                      *("| " + " | ".join(r) + " |" for r in rows), ""]  # fmt: skip
    if result.get("sequence_weight"):
        lines += ["**The sequence model's order**", "", "```", *sequence_weight_lines(result), "```", ""]
    if result.get("explanations"):
        lines += ["**Explanations**", "", "```", *explanation_lines(result), "```", ""]
    for search in result.get("search", []):
        title, header, rows = search_rows(search)
        lines += [f"**{title}**", "", "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1),
                  *("| " + " | ".join(r) + " |" for r in rows), ""]  # fmt: skip
    return "\n".join(lines)


def write_reports(result: dict, folder: Path, name: str | None = None) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.html`` into ``folder``; returns both paths."""
    result.setdefault("generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    stem = name or "evaluation-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / f"{stem}.json", folder / f"{stem}.html"
    json_path.write_text(json.dumps(result, indent=2, default=str))
    html_path.write_text(render_html(result))
    (folder / f"{stem}.md").write_text(render_markdown(result))
    return json_path, html_path
