"""`recadmin enrich preview ID...`: an item's source text beside its LLM enrichment."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from cli.console import out
from core.settings import get_settings
from indexer import api
from indexer.catalog import FieldMapping

app = typer.Typer(help="Preview LLM enrichment of catalog items.")


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
                      "cached": e.cached, "model": e.model, "prompt_version": e.prompt_version}  # fmt: skip
            out.print_json(json.dumps(record), indent=None)
        return
    table = Table("item", "source", "enrichment", "status", title="enrichment preview", show_lines=True)
    for item, e in rows:
        if e.ok:
            attrs = json.dumps(e.attributes, ensure_ascii=False)
            shown = f"{e.description}\n[dim]{attrs}[/]"
            status = f"enriched (similarity {e.similarity:.2f})"
        else:
            shown, status = "[dim](original text kept)[/]", f"dropped: {e.reason}"
        source = "cache" if e.cached else "generated"
        table.add_row(item.id, item.text(), shown, f"{status}\n[dim]{source}; {e.model}; {e.prompt_version}[/]")
    out.print(table)
