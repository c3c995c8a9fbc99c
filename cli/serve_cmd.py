"""`recadmin serve`: run the ranking service (FastAPI on uvicorn) with the storefront at `/`."""

from __future__ import annotations

import typer

from cli.console import err
from core.settings import get_settings


def serve(
    host: str = typer.Option(
        None, "--host", help="Interface to listen on (default RECSEARCH_SERVICE_HOST, 127.0.0.1)."
    ),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default RECSEARCH_SERVICE_PORT, 8000)."),
    workers: int = typer.Option(
        None,
        "--workers",
        min=1,
        max=64,
        help="Worker processes on the one port (default RECSEARCH_SERVICE_WORKERS, 1); each loads the model. "
        "More than one wants the store on PostgreSQL.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Serve without API keys on an interface other machines reach (refused otherwise)."
    ),
) -> None:
    """Serve search, recommendations, the plugin's /v1/rerank, events and the storefront page."""
    from ranker.service import run_served, serving

    served = serving(get_settings(), host=host, port=port, insecure=insecure, workers=workers)
    for line in served.warnings:
        err.print(f"[yellow]warning:[/] {line}", highlight=False)
    for line in served.notes:
        err.print(line, highlight=False)
    url = f"http://{served.host}:{served.port}"
    err.print(f"storefront: {url}/   API docs: {url}/docs", highlight=False)
    run_served(served, log_level=log_level)
