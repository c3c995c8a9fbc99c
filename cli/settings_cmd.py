"""`recadmin settings`: every setting, its environment variable, current value and meaning."""

from __future__ import annotations

from rich.table import Table

from cli.console import out
from core.settings import get_settings, settings_table


def show() -> None:
    """Print all settings (secrets masked) with their environment variables."""
    table = Table("environment variable", "value", "meaning")
    for name, value, help_text in settings_table(get_settings()):
        table.add_row(name, value, help_text)
    out.print(table)
