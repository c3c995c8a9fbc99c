"""`recadmin evaluate`: measure the rankers against the baselines; a table here, JSON and HTML in the reports folder."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import err, out
from cli.options import EventsFile, EventsFormat, EventsMapping
from core.settings import get_settings


def _table(run: dict, k: int) -> Table:
    full = run["protocol"] == "full"
    title = (
        f"{run['split']} split · already-bought {run['mode']} · "
        + ("full ranking over the catalog" if full else f"sampled ({run['negatives']} negatives per target)")
        + f" · {run['cases']} users, {run['targets']} targets ({run['repeat_targets']} repeat purchases)"
    )
    names = ["ndcg", "recall", "hr", "mrr", "map", "precision", "f1", "coverage"] if full else ["ndcg", "hr"]
    columns = [f"{n}@{k}" for n in names] + ([] if full else ["mrr"])
    table = Table("ranker", *columns, f"Δndcg@{k} vs best baseline [95% CI]", title=title, title_justify="left")
    for row in run["rows"]:
        ci = row.get("vs_best_baseline", {}).get(f"ndcg@{k}")
        if ci:
            rel = f" {ci['relative']:+.1%}" if ci["relative"] is not None else ""
            mark = "[green]" if ci["low"] > 0 else "[red]" if ci["high"] < 0 else ""
            delta = f"{mark}{ci['diff']:+.4f} [{ci['low']:+.4f}, {ci['high']:+.4f}]{rel}"
        else:
            delta = "(best baseline)" if row["name"] == run["best_baseline"] else ""
        table.add_row(escape(row["name"]), *(f"{row['metrics'][c]:.4f}" for c in columns), delta)
    return table


def _cold_start_table(run: dict, primary: str) -> Table:
    """Per ranker: the primary metric by the user's history size, and the share of cold and warm targets found."""
    from ranker.evaluation import cold_start_rows

    header, rows = cold_start_rows(run, primary)
    title = (
        f"{run['split']} split · already-bought {run['mode']} · cold start: users by distinct history items; "
        "targets without (cold) and with training events"
    )
    table = Table(*header, title=title, title_justify="left")
    for row in rows:
        table.add_row(escape(row[0]), *row[1:])
    return table


def _search_table(search: dict) -> Table:
    from ranker.evaluation import search_rows

    title, header, rows = search_rows(search)
    table = Table(*header, title=title, title_justify="left")
    for row in rows:
        table.add_row(escape(row[0]), *row[1:])
    return table


def evaluate(
    events: EventsFile = None,
    fmt: EventsFormat = None,
    mapping: EventsMapping = None,
    index: list[str] = typer.Option(
        None,
        "--index",
        help="LABEL=ALIAS of an index to evaluate (repeatable); the first is the primary. "
        "Default: base=<RECSEARCH_OPENSEARCH_INDEX_ALIAS>.",
    ),
    split: list[str] = typer.Option(
        ["time", "leave-last-out"],
        "--split",
        help="time, leave-last-out (each user's last basket) and/or last-item (each user's last interaction the "
        "test target, the one before it validation; users with RECSEARCH_EVAL_MIN_INTERACTIONS or more). Repeatable.",
    ),
    max_users: int = typer.Option(None, "--max-users", min=0, help="Test users per split (0 = all)."),
    cutoff: str = typer.Option(None, "--cutoff", help="Time split date (ISO); default 30 days before the end."),
    peers: bool = typer.Option(
        None,
        "--peers/--no-peers",
        help="Also train the peer recommenders (RECSEARCH_EVAL_PEERS: BPR, GRU4Rec, SASRec on ID embeddings) on each "
        "split's training events, budget RECSEARCH_EVAL_PEER_EPOCHS / _MINUTES each. Default: on when the "
        "last-item split is run.",
    ),
    attention: bool = typer.Option(
        False, "--attention", help="Also train the attention reranker on each split's training events (per index)."
    ),
    checkpoint: list[str] = typer.Option(
        None,
        "--checkpoint",
        help="A trained ranker checkpoint to evaluate as is (repeatable; LABEL=PATH). Honest "
        "only when it was trained on events before the time split's cutoff.",
    ),
    search: bool = typer.Option(
        None,
        "--search/--no-search",
        help="Also run the personalized-search protocol (query adherence, the bought item's rank personalized vs "
        "anonymous) for the attention reranker. Default: on when it is evaluated.",
    ),
    name: str = typer.Option(None, "--name", help="Report file name (without extension)."),
    reports_dir: Path = typer.Option(None, "--reports-dir", help="Where to write the JSON and HTML reports."),
) -> None:
    """Evaluate baselines, peers and attention rankers on time, leave-last-out and last-item splits, full ranking
    and sampled."""
    from ranker.evaluation import EvaluateRequest, parse_indexes
    from ranker.evaluation import evaluate as run

    settings = get_settings()
    request = EvaluateRequest(
        events=events,
        events_format=fmt,
        events_mapping=mapping,
        indexes=parse_indexes(index or [], settings.opensearch.index_alias),
        splits=tuple(split),
        peers=peers,
        max_users=max_users,
        cutoff=cutoff,
        name=name,
        reports_dir=reports_dir,
        search=search,
    )
    extra = None
    if attention or checkpoint:
        from ranker.evaluation import attention_factory

        extra = attention_factory(settings, checkpoint or [], train=attention)
    with err.status("evaluating") as status:
        done = run(settings, request, extra_rankers=extra, report=lambda m: status.update(m))
    result = done.result
    for s in result["splits"]:
        out.print(
            f"[bold]{s['name']}[/]: {s['train_events']:,} training events, {s['test_users']:,} test users, "
            f"{s['evaluated_users']:,} evaluated" + (f", cutoff {s['cutoff']}" if s["cutoff"] else ""),
            highlight=False,
        )
    k = 10 if 10 in result["config"]["ks"] else result["config"]["ks"][0]
    for run_ in result["runs"]:
        out.print(_table(run_, k))
        if run_.get("by_item_history"):
            out.print(_cold_start_table(run_, result["config"]["primary"]))
    for found in result.get("search", []):
        out.print(_search_table(found))
    from ranker.evaluation import explanation_lines

    for line in explanation_lines(result):
        out.print(escape(line), highlight=False)
    out.print(f"JSON: {done.json_path}\nHTML: {done.html_path}  ({result['seconds']:.0f} s)")
