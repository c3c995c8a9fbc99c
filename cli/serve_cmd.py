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
) -> None:
    """Serve search, recommendations, the plugin's /v1/rerank, events and the storefront page."""
    import uvicorn

    from ranker.service import create_app

    settings = get_settings()
    host = host or settings.service.host
    port = port or settings.service.port
    app = create_app(settings, warm=True)
    err.print(f"storefront: http://{host}:{port}/   API docs: http://{host}:{port}/docs", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
