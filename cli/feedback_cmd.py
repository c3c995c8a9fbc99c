"""`recadmin feedback ...`: bring the shop's behaviour in (event files) and keep it in step with the catalog."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

import ranker.feedback as feedback_api
from cli.console import err, out, progress_bar
from core.settings import get_settings

app = typer.Typer(help="Import feedback events and keep them in step with the catalog.")


@app.command("import")
def import_(
    path: Path = typer.Argument(..., help="Event file: CSV, JSONL or Parquet (Online Retail and UBI built in)."),
    fmt: str = typer.Option(
        None, "--format", help="online-retail, ubi, csv, jsonl or parquet (default: from the suffix and columns)."
    ),
    mapping: str = typer.Option(
        None, "--mapping", help="Columns, e.g. \"user_id=customer,item_id=sku,ts=time,type='purchase'\"."
    ),
    check_catalog: bool = typer.Option(
        True, "--catalog-check/--no-catalog-check", help="Flag events whose item is not in the live index."
    ),
) -> None:
    """Import events (idempotent: importing a file again adds nothing; a killed import re-runs to completion)."""
    settings = get_settings()
    with progress_bar("importing events") as progress:
        r = feedback_api.import_file(
            settings, path, fmt=fmt, mapping=mapping, check_catalog=check_catalog, progress=progress
        )
    if r.resumed:
        err.print("an earlier import of this file did not finish; it is completed now")
    for reject in r.first_rejects:
        err.print(f"[yellow]rejected[/] {escape(str(reject))}", highlight=False)  # file values
    if r.rejected > len(r.first_rejects):
        err.print(f"[yellow]... and {r.rejected - len(r.first_rejects):,} more[/]")
    out.print(
        f"{r.rows_read:,} rows read from {escape(str(path))} ({r.format}): {r.events_added:,} events added, "
        f"{r.already_stored:,} already stored or repeated, {r.rejected:,} rejected "
        f"({r.events_per_second:,.0f} events/s)"
    )
    if r.skipped:
        out.print("skipped on purpose: " + ", ".join(f"{n:,} {why}" for why, n in r.skipped.items()))
    sync = r.catalog_sync
    if sync and (sync.items_left or sync.items_back):  # the live catalog changed since the last sync
        out.print(
            f"catalog sync: {sync.items_left:,} items left the catalog, {sync.items_back:,} came back; "
            f"{sync.profiles_rebuilt:,} profiles rebuilt"
        )
    if r.not_in_catalog:
        out.print(f"{r.not_in_catalog:,} events name items not in the catalog (kept, flagged, not in profiles)")
    if r.rejects_file:
        out.print(f"rejected rows are listed in {escape(str(r.rejects_file))}")


@app.command("sync-catalog")
def sync_catalog() -> None:
    """Flag events of items that left the live index (and unflag returned ones); rebuild the touched profiles."""
    s = feedback_api.sync_with_catalog(get_settings())
    out.print(
        f"{s.items_left:,} items left the catalog, {s.items_back:,} came back; "
        f"{s.events_flagged:,} events flagged, {s.events_unflagged:,} unflagged; "
        f"{s.profiles_rebuilt:,} profiles rebuilt"
    )


@app.command("rebuild-profiles")
def rebuild_profiles() -> None:
    """Recompute every profile from the stored events (after changing RECSEARCH_EVENTS_HISTORY_LENGTH)."""
    settings = get_settings()
    with progress_bar("rebuilding profiles") as progress:
        users = feedback_api.rebuild_profiles(settings, progress)
    out.print(f"{users:,} profiles rebuilt, each with the newest {settings.events.history_length:,} interactions")
