"""`recadmin users ...`: one user's history, its export, and the right to be forgotten."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

import ranker.feedback as feedback_api
from cli.console import err, out
from core.settings import get_settings

app = typer.Typer(help="Show, export or delete what is stored about one user.")


@app.command()
def show(
    user_id: str = typer.Argument(..., help="The shop's user id."),
    limit: int = typer.Option(20, "--limit", "-n", help="Profile interactions to print (newest first)."),
) -> None:
    """The user's profile: newest interactions first, with their weights."""
    summary = feedback_api.show_user(get_settings(), user_id, limit)
    out.print(f"user {escape(summary.user_id)}: {summary.events:,} events stored; newest profile interactions:")
    table = Table("time (UTC)", "type", "item", "weight")
    for i in summary.history:
        table.add_row(i.ts.isoformat(sep=" "), i.type, escape(i.item_id), f"{i.weight:.4f}")
    out.print(table)


@app.command()
def export(
    user_id: str = typer.Argument(..., help="The shop's user id."),
    output: Path = typer.Option(None, "--output", "-o", help="JSON file to write (default: standard output)."),
) -> None:
    """Everything stored about the user (events and profile) as JSON."""
    data = feedback_api.export_user(get_settings(), user_id, output)
    if output is None:
        print(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        err.print(f"wrote {len(data['events']):,} events of user {escape(user_id)} to {escape(str(output))}")


@app.command()
def delete(
    user_id: str = typer.Argument(..., help="The shop's user id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Forget the user: every event and profile row (right to be forgotten)."""
    if not yes:
        typer.confirm(f"delete every event and profile row of user {user_id}?", abort=True)
    deleted = feedback_api.delete_user(get_settings(), user_id)
    out.print(
        f"deleted user {escape(user_id)}: {deleted['events']:,} events, {deleted['profile_entries']:,} profile rows"
    )
