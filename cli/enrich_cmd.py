"""`recadmin enrich preview ID...`: an item's source text beside its LLM enrichment; `recadmin enrich audit`: an
enrichment run scored against the labelled truth file; `recadmin enrich load-reviewed|export-reviewed DIR`: reviewed
enrichments shipped as a file, into or out of the cache."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from cli.console import err, out, progress_bar
from core.settings import get_settings
from indexer import api
from indexer.catalog import FieldMapping

app = typer.Typer(help="Preview, audit, load or export LLM enrichments of catalog items.")
DEFAULT_TRUTH = Path(__file__).resolve().parents[1] / "bench" / "data" / "enrichment_truth.jsonl"


@app.command()
def preview(
    ids: list[str] = typer.Argument(..., help="Item ids (Online Retail: stock codes)."),
    catalog: Path = typer.Option(
        ..., "--catalog", help="Items file (CSV, JSONL, Parquet) or Online Retail transactions."
    ),
    mapping: str = typer.Option(None, "--mapping", help="Field mapping, e.g. 'id=sku,title=name,price=cost'."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Show the source and the enrichment side by side (cached, or generated now and cached)."""
    settings = get_settings()
    rows = api.enrich_preview(settings, catalog, ids, mapping=FieldMapping.parse(mapping))
    if as_json:
        for item, e in rows:
            record = {"id": item.id, "source": item.text(), "ok": e.ok, "description": e.description,
                      "attributes": e.attributes, "reason": e.reason, "similarity": round(e.similarity, 4),
                      "cached": e.cached, "model": e.model, "prompt_version": e.prompt_version,
                      "dropped_fields": e.dropped_fields}  # fmt: skip
            out.print_json(json.dumps(record), indent=None)
        return
    table = Table("item", "source", "enrichment", "status", title="enrichment preview", show_lines=True)
    for item, e in rows:
        if e.ok:
            shown = "\n".join([*([escape(e.description)] if e.description else []), _fields(e.attributes)])
            status = f"enriched (similarity {e.similarity:.2f})" if e.description else "enriched (fields only)"
        else:
            shown, status = "[dim](original text kept)[/]", f"dropped: {escape(e.reason or '')}"
        if e.ok and e.dropped_fields:
            status += "\n[dim]not supported by the source, dropped: " + _claims(e.dropped_fields) + "[/]"
        source = "cache" if e.cached else "generated"
        table.add_row(item.id, item.text(), shown, f"{status}\n[dim]{source}; {e.model}; {e.prompt_version}[/]")
    out.print(table)


def _fields(attributes: dict) -> str:
    """Accepted fields as ``category: lighting · colour: white`` (lists joined by commas)."""
    parts = [f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in attributes.items() if v]
    return "[dim]" + escape(" · ".join(parts)) + "[/]"


def _claims(dropped: list[str], shown: int = 8) -> str:
    """The dropped claims without their reasons (``material 'glass'``), at most ``shown`` of them."""
    claims = [d.split(":", 1)[0] for d in dropped]
    more = f" and {len(claims) - shown} more" if len(claims) > shown else ""
    return escape(", ".join(claims[:shown]) + more)


@app.command()
def audit(
    truth: Path = typer.Option(DEFAULT_TRUTH, "--truth", help="Labelled items (JSONL; see docs/enrichment.md)."),
    backend: str = typer.Option(None, "--backend", help="local or openai (default RECSEARCH_ENRICH_BACKEND)."),
    limit: int = typer.Option(None, "--limit", help="Audit only the first N labelled items."),
    json_out: Path = typer.Option(None, "--json", help="Write the full report (per item claims) to this file."),
) -> None:
    """Enrich the labelled items and score the accepted claims: precision, recall, usable share."""
    if backend not in (None, "local", "openai"):
        raise typer.BadParameter("use local or openai", param_hint="--backend")
    settings = get_settings()
    with progress_bar("enriching") as progress:
        report = api.enrich_audit(settings, truth, backend=backend, limit=limit, progress=progress)
    data = report.to_json()
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    table = Table("field", "accepted", "right", "precision", "labelled", "found", "recall",
                  title=f"truth audit: {report.model}, {report.prompt_version}, {report.items} items")  # fmt: skip
    for name, f in data["fields"].items():
        table.add_row(name, str(f["accepted"]), str(f["correct"]), pct(f["precision"]), str(f["labelled"]),
                      str(f["found"]), pct(f["recall"]))  # fmt: skip
    table.add_row("all", str(sum(f["accepted"] for f in data["fields"].values())),
                  str(sum(f["correct"] for f in data["fields"].values())), pct(data["precision"]), "", "",
                  pct(data["recall"]), style="bold")  # fmt: skip
    out.print(table)
    met = data["precision"] is not None and data["precision"] >= data["goal_precision"]
    out.print(f"precision {pct(data['precision'])} (goal >= {data['goal_precision']}: {'met' if met else 'NOT met'}), "
              f"recall {pct(data['recall'])}, usable items {pct(data['usable'])}"
              + (f"; report in {json_out}" if json_out else ""))  # fmt: skip


@app.command("load-reviewed")
def load_reviewed(
    directory: Path = typer.Argument(..., help="Folder of reviewed enrichment files, one per prompt version."),
) -> None:
    """Load the reviewed enrichments for the current prompt version (DIR/<version>.jsonl) into the cache; the
    items they cover are then not sent to the LLM while their text is unchanged. No file: nothing to load."""
    done = api.load_reviewed_enrichments(get_settings(), directory)
    if done.load is None:
        out.print(f"no reviewed enrichments for prompt {done.prompt_version} ({done.path} does not exist): "
                  "items are enriched live", highlight=False)  # fmt: skip
        return
    out.print(f"loaded {done.load.loaded:,} reviewed enrichments from {done.path} into the cache "
              f"({done.load.present:,} were there already)", highlight=False)  # fmt: skip
    if not done.usable:
        keys = ", ".join(f"{m} / {v}" for m, v in sorted(done.load.keys))
        err.print(f"[yellow]note:[/] they are for {escape(keys)}, not the configured {escape(done.model)} / "
                  f"{escape(done.prompt_version)}: they will not be used", highlight=False)  # fmt: skip


@app.command("export-reviewed")
def export_reviewed(
    directory: Path = typer.Argument(..., help="Folder to write DIR/<prompt version>.jsonl into."),
    catalog: Path = typer.Option(
        ..., "--catalog", help="Items file (CSV, JSONL, Parquet) or Online Retail transactions."
    ),
    limit: int = typer.Option(0, "--limit", min=0, help="The first N catalog items (as index build --enrich-limit)."),
    ids: list[str] = typer.Option(None, "--id", help="An item id to include too (repeatable)."),
    mapping: str = typer.Option(None, "--mapping", help="Field mapping, e.g. 'id=sku,title=name,price=cost'."),
) -> None:
    """Write the cached, accepted enrichments of those items (current model and prompt) to a file to review and
    ship; run after an `index build --enrich` has enriched them."""
    path, written = api.export_reviewed_enrichments(
        get_settings(), catalog, directory, limit=limit, ids=ids or [], mapping=FieldMapping.parse(mapping)
    )
    out.print(f"wrote {written:,} accepted enrichments to {path}", highlight=False)
