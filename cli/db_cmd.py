"""`recadmin db status|upgrade`: the store's schema revision, and the migrations that bring it to this release's."""

from __future__ import annotations

import typer

from cli.console import out
from core.settings import get_settings
from core.store import UPGRADE_COMMAND, make_engine, schema_status, upgrade

app = typer.Typer(help="The SQL store's schema: its revision, and the migrations this release brings.")


@app.command()
def status() -> None:
    """The store's schema revision, this release's newest, and the migrations still to apply (changes nothing)."""
    store = get_settings().store
    found = schema_status(make_engine(store.url, store.echo))
    out.print(f"store:   {found.url}", highlight=False)
    out.print(f"current: {found.describe()}", highlight=False)
    out.print(f"head:    revision {found.head}", highlight=False)
    if found.state == "unknown":
        out.print(f"this release does not know revision {found.current}: the store was made by a newer recsearch")
    elif found.pending:
        out.print(f"pending: {', '.join(found.pending)}; run `{UPGRADE_COMMAND}` (any other recadmin command that "
                  "uses the store applies them too)", highlight=False)  # fmt: skip
    else:
        out.print("up to date")


@app.command("upgrade")
def upgrade_schema() -> None:
    """Apply the pending migrations (a store made by the release before migrations keeps every row)."""
    store = get_settings().store
    engine = make_engine(store.url, store.echo)
    applied = upgrade(engine)
    found = schema_status(engine)
    if applied:
        out.print(
            f"the store at {found.url} is at revision {found.head}; applied {', '.join(applied)}", highlight=False
        )
    else:
        out.print(f"the store at {found.url} is already at revision {found.head}; nothing to apply", highlight=False)
