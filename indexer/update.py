"""Incremental updates of the live version: only changed items are re-enriched and re-embedded, removed ones go.

An item counts as changed when its document hash differs (its content, its enrichment, or the schema). The live
version is changed in place; a full ``index build`` writes a new version instead, and ``index rollback`` returns
to the version before that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.embedding import Embedder
from core.errors import ConfigError
from core.opensearch.client import translate_errors
from core.progress import ProgressFn
from indexer.build import BuildResult, bulk_load, delete_missing, document_actions, existing_hashes
from indexer.catalog import Item
from indexer.digest import META_DIGEST
from indexer.enrichment import Enrichment
from indexer.index import SCHEMA_VERSION, ItemsIndex
from indexer.learned_field import META_DIM, META_MODEL, LearnedSource

if TYPE_CHECKING:
    from opensearchpy import OpenSearch


def update_index(
    client: OpenSearch,
    index: ItemsIndex,
    items: Sequence[Item],
    embedder: Embedder,
    *,
    enrichments: dict[str, Enrichment] | None = None,
    chunk_size: int = 500,
    progress: ProgressFn | None = None,
    meta: dict[str, Any] | None = None,
    learned: LearnedSource | None = None,
) -> BuildResult:
    """Bring the live version in line with ``items``: write new and changed documents, delete removed ones.

    A version holding a model's learned vectors keeps holding them: when ``learned`` gives that model's, the
    rewritten documents carry theirs; otherwise its ``_meta.behaviour_model`` is cleared before anything is written
    (rewritten documents lose theirs), and publishing the active model's vectors afterwards writes them all."""
    live = index.require_live()
    live_meta = index.meta(live)
    if live_meta.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(
            f"the live version {live} has schema {live_meta.get('schema_version')}, this indexer writes "
            f"{SCHEMA_VERSION}: run `recadmin index build` once"
        )
    live_model = live_meta.get("embedding_model")
    if live_model != embedder.name:
        raise ConfigError(
            f"the live version {live} was embedded with '{live_model}', not '{embedder.name}'; "
            "vectors of two models cannot be mixed: run `recadmin index build` instead"
        )
    # written in place: the version no longer is what its build digest says (cleared first, so that an update that
    # fails half-way cannot leave a digest that would let the next build skip)
    if live_meta.get(META_DIGEST):
        index.update_meta(live, {META_DIGEST: None})
    vectors, forget = None, False
    if live_meta.get(META_MODEL) is not None:
        vectors = learned() if learned else None
        if vectors is None or (vectors.model, vectors.dim) != (live_meta[META_MODEL], live_meta.get(META_DIM)):
            vectors, forget = None, True
    present = existing_hashes(client, live, index.url)
    result = BuildResult(live, live, 0)
    actions = document_actions(
        client, items, enrichments or {}, embedder, live, in_target=present, result=result, url=index.url,
        learned=vectors,
    )  # fmt: skip
    if forget:  # cleared before the first rewritten document, so an unchanged catalog keeps the model's vectors
        actions = _before_first(actions, lambda: index.update_meta(live, {META_MODEL: None}))
    written = bulk_load(client, actions, len(items), chunk_size, progress, index.url)
    result.deleted = delete_missing(client, live, present, {it.id for it in items}, index.url)
    result.indexed = written
    with translate_errors(index.url, live):
        client.indices.refresh(index=live)
    index.update_meta(live, {"updated_at": datetime.now(UTC).isoformat(timespec="seconds"), **(meta or {})})
    return result


def _before_first(actions: Iterator[dict[str, Any]], call: Callable[[], None]) -> Iterator[dict[str, Any]]:
    """``actions``, with ``call()`` made once before the first one is handed out (never when there is none)."""
    first = next(actions, None)
    if first is None:
        return
    call()
    yield first
    yield from actions
