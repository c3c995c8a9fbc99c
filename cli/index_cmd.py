"""`recadmin index ...`: build and inspect the items index."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cli.console import err, out, progress_bar
from indexer import api
from indexer.catalog import FieldMapping
from indexer.settings import get_settings

app = typer.Typer(help="Build and inspect the versioned items index.")


@app.command()
def build(
    catalog: Path = typer.Option(..., "--catalog", help="Items file (CSV, JSONL, Parquet) or Online Retail transactions."),
    mapping: str = typer.Option(None, "--mapping", help="Field mapping, e.g. 'id=sku,title=name,price=cost'."),
    strict: bool = typer.Option(False, "--strict", help="Stop on the first bad row instead of skipping it."),
) -> None:
    """Embed every catalog item and write a new index version; the alias moves to it at the end."""
    settings = get_settings()

    def loaded(read) -> None:
        err.print(f"read {len(read.items):,} items from {read.source}")
        for reject in read.rejects[:5]:
            err.print(f"[yellow]skipped[/] {reject}", highlight=False)
        if len(read.rejects) > 5:
            err.print(f"[yellow]... and {len(read.rejects) - 5} more[/]")

    with progress_bar("indexing") as progress:
        done = api.build_from_catalog(
            settings, catalog, mapping=FieldMapping.parse(mapping), strict=strict, progress=progress, on_loaded=loaded
        )
    r = done.result
    out.print(f"indexed {r.indexed:,} items into {r.index}; alias '{settings.opensearch.index_alias}' now points at it")
    if r.rejects:
        out.print(f"{len(r.rejects)} rows skipped, listed in {done.rejects_file}")
    if r.pruned:
        out.print(f"deleted old versions: {', '.join(r.pruned)}")


@app.command()
def status() -> None:
    """The versions behind the alias, with document counts."""
    versions = api.index_versions(get_settings())
    table = Table("version", "documents", "live", "embedding model")
    for v in versions:
        table.add_row(v.name, f"{v.docs:,}", "yes" if v.live else "", str(v.meta.get("embedding_model", "")))
    out.print(table)
    if not versions:
        out.print("no index versions yet; run `recadmin index build --catalog PATH`")
