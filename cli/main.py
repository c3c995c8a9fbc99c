"""The `recadmin` entry point: command groups joined here, user errors turned into one line and an exit code."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from cli import (
    db_cmd,
    enrich_cmd,
    evaluate_cmd,
    experiment_cmd,
    feedback_cmd,
    finetune_cmd,
    index_cmd,
    models_cmd,
    opensearch_cmd,
    pipeline_cmd,
    search_cmd,
    serve_cmd,
    settings_cmd,
    train_cmd,
    ubi_cmd,
    users_cmd,
)
from cli.console import err
from core.errors import RecSearchError

app = typer.Typer(
    name="recadmin",
    help="Personalized, LLM-enriched search on OpenSearch: index the catalog, learn from events, rank per user.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(opensearch_cmd.app, name="opensearch")
app.add_typer(pipeline_cmd.app, name="pipeline")
app.add_typer(index_cmd.app, name="index")
app.add_typer(enrich_cmd.app, name="enrich")
app.command("search")(search_cmd.search)
app.command("settings")(settings_cmd.show)
app.add_typer(feedback_cmd.app, name="feedback")
app.add_typer(users_cmd.app, name="users")
app.command("train")(train_cmd.train)
app.add_typer(models_cmd.app, name="models")
app.command("serve")(serve_cmd.serve)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("finetune")(finetune_cmd.finetune)
app.add_typer(db_cmd.app, name="db")
app.add_typer(ubi_cmd.app, name="ubi")
app.add_typer(experiment_cmd.app, name="experiment")


@app.callback()
def _settings_check() -> None:
    """Say once, before any command runs, which deprecated settings are set (and what replaced them)."""
    from core.settings import deprecations, get_settings

    for line in deprecations(get_settings()):
        err.print(f"[yellow]warning:[/] {line}", highlight=False)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors print one line to stderr, never a traceback."""
    try:
        app(args=argv, prog_name="recadmin")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    except RecSearchError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)  # holds user input
        return e.exit_code
    except KeyboardInterrupt:
        err.print("[bold red]interrupted[/]")
        return 130
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":  # python -m cli.main, as the recadmin script
    main()
