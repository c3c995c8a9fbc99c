"""A full index build: catalog in, embedded items bulk-loaded into a new version, alias swapped at the end."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from indexer.catalog import Item, Reject
from indexer.client import translate_errors
from indexer.embedding import Embedder
from indexer.errors import OpenSearchError
from indexer.index import ItemsIndex

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

#: Called with (items done, items in all) as the build goes.
ProgressFn = Callable[[int, int], None]


@dataclass
class BuildResult:
    """What a build did."""

    index: str
    previous: str | None
    indexed: int
    rejects: list[Reject] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def content_hash(item: Item) -> str:
    """A stable hash of an item's content: a changed item gets a new hash."""
    payload = json.dumps(
        [item.id, item.title, item.description, item.category, item.price, item.attributes], sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def item_document(item: Item, vector: list[float]) -> dict[str, Any]:
    """The OpenSearch document of one item."""
    return {
        "item_id": item.id,
        "title": item.title,
        "description": item.description,
        "category": item.category,
        "price": item.price,
        "text": item.text(),
        "content_hash": content_hash(item),
        "vector": vector,
    }


def embedded_actions(
    items: Iterable[Item], embedder: Embedder, index: str, chunk: int = 256
) -> Iterator[dict[str, Any]]:
    """Bulk actions for ``items``, embedding ``chunk`` texts at a time so memory stays bounded."""
    batch: list[Item] = []

    def flush() -> Iterator[dict[str, Any]]:
        vectors = embedder.encode([it.text() for it in batch])
        for it, vec in zip(batch, vectors, strict=True):
            yield {"_op_type": "index", "_index": index, "_id": it.id, "_source": item_document(it, vec.tolist())}
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) >= chunk:
            yield from flush()
    if batch:
        yield from flush()


def bulk_load(
    client: OpenSearch,
    actions: Iterable[dict[str, Any]],
    total: int,
    chunk_size: int = 500,
    progress: ProgressFn | None = None,
    url: str = "",
) -> int:
    """Stream ``actions`` through opensearch-py's ``streaming_bulk``; raises on the first failed document."""
    from opensearchpy.helpers import streaming_bulk

    done = 0
    with translate_errors(url):
        for ok, info in streaming_bulk(client, actions, chunk_size=chunk_size, raise_on_error=False, max_retries=3):
            if not ok:
                op = next(iter(info.values()))
                raise OpenSearchError(f"bulk indexing failed for item '{op.get('_id')}': {op.get('error')}")
            done += 1
            if progress and (done % 100 == 0 or done == total):
                progress(done, total)
    return done


def build_index(
    client: OpenSearch,
    index: ItemsIndex,
    items: list[Item],
    embedder: Embedder,
    *,
    rejects: list[Reject] | None = None,
    chunk_size: int = 500,
    keep_versions: int = 2,
    progress: ProgressFn | None = None,
    meta: dict[str, Any] | None = None,
) -> BuildResult:
    """Build a new version from ``items`` and make it live. On failure the half-built version is deleted and
    the alias keeps pointing at the previous one."""
    name = index.create_version(embedder.dimension, {"embedding_model": embedder.name, **(meta or {})})
    try:
        actions = embedded_actions(items, embedder, name)
        indexed = bulk_load(client, actions, len(items), chunk_size, progress, index.url)
        index.finish_build(name)
    except BaseException:
        with translate_errors(index.url, name):
            client.indices.delete(index=name, ignore_unavailable=True)
        raise
    previous = index.swap_alias(name)
    pruned = index.prune(keep_versions)
    return BuildResult(name, previous, indexed, rejects or [], pruned)
