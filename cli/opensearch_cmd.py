"""`recadmin opensearch start|stop|status`: the project's local OpenSearch node."""

from __future__ import annotations

import typer

from cli.console import err, out
from core.opensearch.node import LocalNode, NodeStatus, project_node_settings
from core.settings import get_settings

app = typer.Typer(help="Run a local OpenSearch node (fetched from Maven Central) for development and tests.")


def _node() -> LocalNode:
    return LocalNode(project_node_settings(get_settings()))


def _print(status: NodeStatus) -> None:
    if not status.running:
        out.print(f"stopped ({status.url})")
        return
    out.print(
        f"running pid={status.pid} url={status.url} version={status.version} health={status.health} "
        f"plugins={','.join(status.plugins) or '-'}"
    )


@app.command()
def start() -> None:
    """Fetch, install and start the node; wait for cluster health. A running node is left as it is."""
    with err.status("starting OpenSearch (the first start downloads it with Maven)..."):
        status = _node().start()
    _print(status)


@app.command()
def stop() -> None:
    """Stop the node; no process is left behind."""
    stopped = _node().stop()
    out.print("stopped" if stopped else "not running")


@app.command()
def status() -> None:
    """Whether the node runs, with version, health and plugins."""
    status = _node().status()
    _print(status)
    if not status.running:
        raise typer.Exit(3)
