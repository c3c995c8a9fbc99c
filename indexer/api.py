"""The indexer's public operations, one function per user action. The CLI, the service and the tests call these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer.build import BuildResult, ProgressFn, build_index
from indexer.catalog import FieldMapping, read_catalog, write_rejects
from indexer.client import make_client, translate_errors
from indexer.embedding import Embedder, load_embedder
from indexer.errors import InputError
from indexer.index import IndexVersion, ItemsIndex
from indexer.search import Hit, knn_search
from indexer.settings import Settings


def default_embedder(settings: Settings) -> Embedder:
    """The embedding model the settings name (loaded once per process)."""
    m = settings.models
    return load_embedder(m.embedding, m.device, m.embedding_batch_size)


def items_index(settings: Settings) -> ItemsIndex:
    """The versioned items index of the configured alias."""
    os_settings = settings.opensearch
    return ItemsIndex(make_client(os_settings), os_settings.index_alias, os_settings.url)


def ping(settings: Settings) -> dict:
    """Cluster info; raises a clear error when unreachable or when the credentials are wrong."""
    index = items_index(settings)
    with translate_errors(settings.opensearch.url):
        return index.client.info()


@dataclass
class CatalogBuild:
    """A finished build and where its rejects went."""

    result: BuildResult
    rejects_file: Path | None


def build_from_catalog(
    settings: Settings,
    catalog: Path,
    *,
    mapping: FieldMapping | None = None,
    strict: bool = False,
    embedder: Embedder | None = None,
    progress: ProgressFn | None = None,
    on_loaded=None,
) -> CatalogBuild:
    """Read ``catalog``, embed every item and make a new index version live."""
    read = read_catalog(catalog, mapping)
    rejects_file = None
    if read.rejects:
        rejects_file = settings.state_dir / "rejects" / f"{catalog.stem}.catalog-rejects.jsonl"
        write_rejects(read.rejects, rejects_file)
        if strict:
            raise InputError(f"{len(read.rejects)} bad rows, first: {read.rejects[0]} (see {rejects_file})")
    if not read.items:
        raise InputError("no usable items in the catalog", path=str(catalog))
    if on_loaded:
        on_loaded(read)
    index = items_index(settings)
    index.live_version()  # fail fast (unreachable cluster, bad credentials) before loading a model
    result = build_index(
        index.client,
        index,
        read.items,
        embedder or default_embedder(settings),
        rejects=read.rejects,
        chunk_size=settings.opensearch.bulk_chunk_size,
        progress=progress,
        meta={"catalog": str(catalog)},
    )
    return CatalogBuild(result, rejects_file)


def search(settings: Settings, query: str, k: int = 10, embedder: Embedder | None = None) -> list[Hit]:
    """k-NN search for the text ``query`` on the live index."""
    if not query.strip():
        raise InputError("the query is empty", field="query")
    index = items_index(settings)
    index.require_live()
    vector = (embedder or default_embedder(settings)).encode([query])[0].tolist()
    return knn_search(index.client, index.alias, vector, k, url=index.url)


def index_versions(settings: Settings) -> list[IndexVersion]:
    """All versions behind the alias."""
    return items_index(settings).versions()
