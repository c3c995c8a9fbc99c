"""`recadmin opensearch start|stop|status`: the project's local OpenSearch node, or a local cluster of several."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.console import err, out
from core.opensearch.cluster import LocalCluster
from core.opensearch.node import LocalNode, NodeStatus, project_node_settings
from core.settings import get_settings

app = typer.Typer(help="Run a local OpenSearch node (fetched from Maven Central) for development and tests.")

Nodes = Annotated[
    int | None,
    typer.Option("--nodes", min=1, help="Nodes of the local cluster (default RECSEARCH_NODE_NODES; 1: one node)."),
]


def _local(nodes: int | None) -> LocalNode | LocalCluster:
    settings = project_node_settings(get_settings())
    size = nodes or settings.nodes
    return LocalNode(settings) if size == 1 else LocalCluster(settings, size)


def _line(status: NodeStatus) -> str:
    if not status.running:
        return f"stopped ({status.url})"
    return (
        f"running pid={status.pid} url={status.url} version={status.version} health={status.health} "
        f"plugins={','.join(status.plugins) or '-'}"
    )


def _print(statuses: list[NodeStatus]) -> None:
    if len(statuses) == 1:
        out.print(_line(statuses[0]))
        return
    for i, status in enumerate(statuses):
        out.print(f"node-{i} {_line(status)}")


def _statuses(local: LocalNode | LocalCluster) -> list[NodeStatus]:
    status = local.status()
    return status if isinstance(status, list) else [status]


@app.command()
def start(nodes: Nodes = None) -> None:
    """Fetch, install and start the node (or every node of the cluster); wait for cluster health. Running nodes are
    left as they are."""
    local = _local(nodes)
    with err.status("starting OpenSearch (the first start downloads it with Maven)..."):
        local.start()
    _print(_statuses(local))


@app.command()
def stop(nodes: Nodes = None) -> None:
    """Stop the node (or every node of the cluster); no process is left behind."""
    local = _local(nodes)
    stopped = local.stop()  # a node: whether it ran; a cluster: how many of its nodes did
    if not stopped:
        out.print("not running")
    else:
        out.print("stopped" if isinstance(local, LocalNode) else f"stopped {stopped} node(s)")


@app.command()
def status(nodes: Nodes = None) -> None:
    """Whether the node (each node of the cluster) runs, with version, health and plugins; exit 3 when none runs."""
    statuses = _statuses(_local(nodes))
    _print(statuses)
    if not any(s.running for s in statuses):
        raise typer.Exit(3)
