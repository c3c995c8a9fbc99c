"""`recadmin pipeline install|remove|status`: the `personalized` search pipeline that reranks the shop's hits."""

from __future__ import annotations

import json

import typer

from cli.console import out
from core.settings import get_settings
from indexer.search_pipeline import PipelineState, install_pipeline, pipeline_status, remove_pipeline

app = typer.Typer(help="Manage the search pipeline that reranks hits per user (needs the recsearch-rerank plugin).")


def _print(state: PipelineState) -> None:
    plugin = f"plugin on {state.plugin_nodes}/{state.total_nodes} nodes"
    if not state.installed:
        out.print(f"pipeline '{state.name}' not installed ({plugin})")
        return
    out.print(f"pipeline '{state.name}' installed ({plugin})")
    if state.processor is not None:
        out.print(json.dumps(state.processor, indent=2, sort_keys=True), highlight=False)


@app.command()
def install() -> None:
    """Store the pipeline from the RECSEARCH_PIPELINE_* settings (replaces an existing one)."""
    _print(install_pipeline(get_settings()))


@app.command()
def remove() -> None:
    """Delete the pipeline; searches that name it then fail, so change the shop first."""
    removed = remove_pipeline(get_settings())
    out.print(f"pipeline '{get_settings().pipeline.name}' " + ("removed" if removed else "was not installed"))


@app.command()
def status() -> None:
    """Whether the plugin is on every node and the pipeline is stored, with its settings. Exit 3 when not installed."""
    state = pipeline_status(get_settings())
    _print(state)
    if not state.installed:
        raise typer.Exit(3)
