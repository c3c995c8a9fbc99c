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
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Serve without API keys on an interface other machines reach (refused otherwise)."
    ),
) -> None:
    """Serve search, recommendations, the plugin's /v1/rerank, events and the storefront page."""
    import uvicorn

    from ranker.service import serving

    served = serving(get_settings(), host=host, port=port, insecure=insecure)
    for line in served.warnings:
        err.print(f"[yellow]warning:[/] {line}", highlight=False)
    for line in served.notes:
        err.print(line, highlight=False)
    url = f"http://{served.host}:{served.port}"
    err.print(f"storefront: {url}/   API docs: {url}/docs", highlight=False)
    uvicorn.run(served.app, host=served.host, port=served.port, log_level=log_level, access_log=False)
