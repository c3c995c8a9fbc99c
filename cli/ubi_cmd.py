"""`recadmin ubi report`: what the service showed (UBI queries) and what shoppers did with it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.table import Table

import ranker.feedback as feedback_api
from cli.console import err, out
from core.settings import get_settings

app = typer.Typer(help="User Behavior Insights: impressions recorded by the service, events attributed to them.")


@app.command()
def report(
    max_position: int = typer.Option(20, "--max-position", "-n", help="Positions to show (1 = first result)."),
    click_type: str = typer.Option("click", "--click-type", help="The event type the CTR counts."),
    json_path: Path = typer.Option(None, "--json", help="Also write the report as JSON to this file ('-': stdout)."),
) -> None:
    """Answers recorded, events attributed to them by query_id, and the click-through rate by position."""
    found = feedback_api.report_ubi(get_settings(), max_position=max_position, click_type=click_type)
    data = dataclasses.asdict(found)
    if json_path is not None and str(json_path) == "-":
        print(json.dumps(data, indent=1))
        return
    out.print(
        f"sink {found.sink}: {found.answers:,} answers recorded, {found.hits_shown:,} results shown; "
        f"{found.events_with_query_id:,} events carry a query_id, {found.attributed:,} attributed, "
        f"{found.unattributed:,} not (unknown query_id, or an item that answer did not show)"
    )
    types = sorted({t for row in found.positions for t in row.events})
    table = Table("position", "shown", *types, f"CTR ({found.click_type})")
    for row in found.positions:
        table.add_row(str(row.position), f"{row.shown:,}", *(f"{row.events.get(t, 0):,}" for t in types),
                      f"{row.ctr:.2%}")  # fmt: skip
    out.print(table)
    if found.placed_by:
        shares = ", ".join(f"{k}: {v:,}" for k, v in sorted(found.placed_by.items()))
        out.print(f"{found.click_type} events by what placed the item: {shares}")
    if json_path is not None:
        json_path.write_text(json.dumps(data, indent=1))
        err.print(f"wrote {json_path}")
