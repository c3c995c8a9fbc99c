"""`recadmin search QUERY`: search the live index from the terminal."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.console import out
from core.settings import get_settings
from indexer import api


def search(
    query: str = typer.Argument(..., help="What to search for."),
    k: int = typer.Option(10, "-k", "--k", min=1, max=1000, help="How many hits."),
    mode: str = typer.Option(None, "--mode", help="knn, bm25 or hybrid (default RECSEARCH_SEARCH_MODE)."),
) -> None:
    """Search the live index: k-NN over the vectors, BM25 over the text and attributes, or hybrid (RRF)."""
    settings = get_settings()
    mode = mode or settings.search.mode
    hits = api.search(settings, query, k, mode=mode)
    table = Table("#", "item", "title", "price", "score", title=f"{mode} hits for '{query}'")
    for rank, hit in enumerate(hits, start=1):
        price = f"{hit.price:.2f}" if hit.price is not None else ""
        table.add_row(str(rank), hit.id, hit.title, price, f"{hit.score:.4f}")
    out.print(table)
