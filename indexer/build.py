"""Index builds: catalog items (enriched or not) embedded and bulk-loaded into a new version, alias swapped at the end.

Every document carries a ``doc_hash``: a hash of everything in it but the vector, the embedding model included (and,
for an item with its own vector from the catalog, a digest of that vector, so a changed vector is rewritten).
That makes three things cheap:

- a rebuild of an unchanged catalog copies each vector from the live version instead of embedding it again
  (and the enrichment cache means no LLM call either);
- a build killed half-way leaves its version marked ``building``; the next build with the same model resumes
  there, skipping documents already written (ids are item ids, so nothing is duplicated);
- ``update`` (:mod:`indexer.update`) rewrites only documents whose hash changed and deletes removed items.

When the caller passes the active model's learned vectors (:mod:`indexer.learned_field`), each document carries
its ``behaviour_vector`` too, computed a chunk at a time from the vector it gets, and the version's ``_meta`` names
the model: no second pass of partial updates after the build.

Before any of that, a rebuild whose build digest (:mod:`indexer.digest`: the catalog file's bytes and the settings
that decide the documents) equals the live version's is skipped without reading the catalog.

``items`` is any sized collection that can be iterated more than once: a list, or a
:class:`~indexer.catalog_stream.CatalogStream` that re-reads the file in chunks, so a build holds one chunk of
vectors and documents at a time, not the catalog.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.embedding import Embedder
from core.errors import OpenSearchError
from core.opensearch.client import translate_errors
from core.progress import ProgressFn, prefetched
from core.rows import Reject
from indexer.catalog import Item
from indexer.digest import META_DIGEST, META_DOCUMENTS
from indexer.enrichment import Enrichment, enriched_text
from indexer.index import BUILDING, SCHEMA_VERSION, ItemsIndex
from indexer.learned_field import BEHAVIOUR_FIELD, LearnedSource, LearnedVectors, field_mapping, learned_meta, reads

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

EMBED_CHUNK = 256  # items embedded per step: bounds memory whatever the catalog size


@dataclass
class BuildResult:
    """What a build (or update) did."""

    index: str
    previous: str | None
    indexed: int
    rejects: list[Reject] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    embedded: int = 0  # documents whose vector was computed
    reused: int = 0  # documents whose vector was copied from the live version
    given: int = 0  # documents whose vector came from the catalog's vector column
    skipped: int = 0  # documents already in place (a resumed build, or unchanged in an update)
    deleted: int = 0
    resumed: bool = False
    up_to_date: bool = False  # nothing changed: the live version stays, no new version was written
    digest_match: bool = False  # ... known from the build digest alone, without reading the catalog
    enrichment: dict[str, int] = field(default_factory=dict)


def content_hash(item: Item) -> str:
    """A stable hash of an item's content: a changed item gets a new hash."""
    return item.content_hash()


def item_document(
    item: Item, vector: list[float] | None, enrichment: Enrichment | None = None, model: str = ""
) -> dict[str, Any]:
    """The OpenSearch document of one item (``vector`` None: everything but the vector, with its ``doc_hash``)."""
    ok = enrichment is not None and enrichment.ok
    doc: dict[str, Any] = {
        "item_id": item.id,
        "title": item.title,
        "description": item.description,
        "category": item.category,
        "price": item.price,
        "recommendable": item.recommendable,
        "text": item.text(),
        "enriched_description": enrichment.description if ok else "",
        "enriched_text": enriched_text(item, enrichment),
        "attributes": dict(enrichment.attributes) if ok else {},
        "enrichment": {
            "status": "none" if enrichment is None else "enriched" if ok else "rejected",
            "model": enrichment.model if enrichment else "",
            "prompt_version": enrichment.prompt_version if enrichment else "",
            "similarity": round(enrichment.similarity, 4) if enrichment else 0.0,
            "reason": enrichment.reason[:256] if enrichment and not ok else "",
            "dropped_fields": [d[:256] for d in enrichment.dropped_fields] if ok else [],
        },
        "content_hash": content_hash(item),
    }
    hashed: list[Any] = [doc, model, SCHEMA_VERSION]
    if item.vector is not None:  # the catalog's own vector: a changed one must be rewritten (float32 bytes, exact)
        hashed.append(hashlib.sha256(item.vector.astype("<f4", copy=False).tobytes()).hexdigest())
    payload = json.dumps(hashed, sort_keys=True, default=str)
    doc["doc_hash"] = hashlib.sha256(payload.encode()).hexdigest()[:32]
    if vector is not None:
        doc["vector"] = vector
    return doc


def existing_hashes(client: OpenSearch, index: str, url: str = "", page_size: int = 10_000) -> dict[str, str]:
    """``item id -> doc_hash`` of every document in ``index``, read from doc values (``_source`` holds the vector:
    loading and filtering it is what made this slow) in pages of ``page_size`` with ``search_after``."""
    out: dict[str, str] = {}
    after: list | None = None
    with translate_errors(url, index):
        client.indices.refresh(index=index)
        while True:
            body: dict[str, Any] = {"size": page_size, "_source": False, "docvalue_fields": ["doc_hash"],
                                    "sort": [{"item_id": "asc"}], "query": {"match_all": {}}}  # fmt: skip
            if after is not None:
                body["search_after"] = after
            hits = client.search(index=index, body=body)["hits"]["hits"]
            for h in hits:
                out[h["_id"]] = ((h.get("fields") or {}).get("doc_hash") or [""])[0]
            if len(hits) < page_size:
                return out
            after = hits[-1]["sort"]


class LiveHashes:
    """``id -> doc_hash`` of a version, read on first use: a catalog that brings every vector never needs them."""

    def __init__(self, read: Callable[[], dict[str, str]]):
        self._read = read
        self._hashes: dict[str, str] | None = None

    def get(self, item_id: str) -> str | None:
        if self._hashes is None:
            self._hashes = self._read()
        return self._hashes.get(item_id)


def _vectors_from(client: OpenSearch, index: str, ids: list[str], url: str) -> dict[str, list[float]]:
    with translate_errors(url, index):
        found = client.mget(index=index, body={"ids": ids}, _source=["vector"])
    return {d["_id"]: d["_source"]["vector"] for d in found["docs"] if d.get("found") and d.get("_source")}


def document_actions(
    client: OpenSearch,
    items: Iterable[Item],
    enrichments: dict[str, Enrichment],
    embedder: Embedder,
    target: str,
    *,
    in_target: dict[str, str] | None = None,
    reuse_from: tuple[str, LiveHashes] | None = None,
    result: BuildResult,
    url: str = "",
    learned: LearnedVectors | None = None,
) -> Iterator[dict[str, Any]]:
    """Bulk actions writing ``items`` into ``target``. Documents already in ``target`` with the same hash are
    skipped; those whose hash matches in ``reuse_from`` (index, its hashes) get that index's vector; the rest are
    embedded, ``EMBED_CHUNK`` at a time. ``learned``: each document also gets its learned vector, computed from
    the vector it got."""
    in_target = in_target or {}
    batch: list[tuple[Item, dict[str, Any]]] = []

    def flush() -> Iterator[dict[str, Any]]:
        # the catalog's own vectors first; then vectors copied from the live version; the rest are embedded
        vectors = {doc["item_id"]: it.vector.tolist() for it, doc in batch if it.vector is not None}
        reusable = [
            doc["item_id"]
            for _, doc in batch
            if reuse_from and doc["item_id"] not in vectors and reuse_from[1].get(doc["item_id"]) == doc["doc_hash"]
        ]
        given = len(vectors)
        vectors.update(_vectors_from(client, reuse_from[0], reusable, url) if reusable and reuse_from else {})
        to_embed = [(it, doc) for it, doc in batch if doc["item_id"] not in vectors]
        if to_embed:
            encoded = embedder.encode([doc["enriched_text"] for _, doc in to_embed])
            for (_, doc), vec in zip(to_embed, encoded, strict=True):
                vectors[doc["item_id"]] = vec.tolist()
        result.embedded += len(to_embed)
        result.given += given
        result.reused += len(batch) - len(to_embed) - given
        for _, doc in batch:
            doc["vector"] = vectors[doc["item_id"]]
        if learned is not None:
            ids = [doc["item_id"] for _, doc in batch]
            rows = learned.vectors(ids, np.asarray([vectors[i] for i in ids], dtype=np.float32))
            for (_, doc), row in zip(batch, rows, strict=True):
                doc[BEHAVIOUR_FIELD] = row.tolist()
        for _, doc in batch:
            yield {"_op_type": "index", "_index": target, "_id": doc["item_id"], "_source": doc}
        batch.clear()

    for item in items:
        doc = item_document(item, None, enrichments.get(item.id), embedder.name)
        if in_target.get(item.id) == doc["doc_hash"]:
            result.skipped += 1
            continue
        batch.append((item, doc))
        if len(batch) >= EMBED_CHUNK:
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
    start: int = 0,
) -> int:
    """Stream ``actions`` through opensearch-py's ``streaming_bulk`` (retries 429s); raises on the first failed
    document. Progress counts from ``start`` (documents that needed no writing).

    The actions are drawn ahead in a thread of their own (:func:`prefetched`), so embedding the next chunk
    overlaps with OpenSearch indexing the previous one instead of taking turns with it."""
    from opensearchpy.helpers import streaming_bulk

    done = 0
    with translate_errors(url), prefetched(actions, depth=2 * chunk_size) as ahead:
        results = streaming_bulk(client, ahead, chunk_size=chunk_size, raise_on_error=False, max_retries=3)
        for ok, info in results:
            if not ok:
                op = next(iter(info.values()))
                raise OpenSearchError(
                    f"bulk {op.get('_op_type', 'write')} failed for item '{op.get('_id')}': {op.get('error')}"
                )
            done += 1
            if progress and (done % 100 == 0 or start + done == total):
                progress(start + done, total)
    return done


def delete_missing(client: OpenSearch, index: str, present: dict[str, str], keep: set[str], url: str = "") -> int:
    """Delete the documents of ``index`` whose id is in ``present`` but not in ``keep``."""
    doomed = [i for i in present if i not in keep]
    actions = ({"_op_type": "delete", "_index": index, "_id": i} for i in doomed)
    return bulk_load(client, actions, len(doomed), url=url) if doomed else 0


def build_index(
    client: OpenSearch,
    index: ItemsIndex,
    items: Collection[Item],
    embedder: Embedder,
    *,
    enrichments: dict[str, Enrichment] | None = None,
    rejects: list[Reject] | None = None,
    chunk_size: int = 500,
    keep_versions: int = 2,
    progress: ProgressFn | None = None,
    meta: dict[str, Any] | None = None,
    resume: bool = True,
    force: bool = False,
    max_shrink: float | None = None,
    digest: str | None = None,
    shards: int = 1,
    replicas: int = 0,
    learned: LearnedSource | None = None,
) -> BuildResult:
    """Build a version from ``items`` and make it live. A half-built version of the same embedding model is
    resumed; unchanged documents take their vectors from the live version. On an error the half-built version is
    deleted and the alias keeps its version; a killed process (or Ctrl-C) leaves it for the next build to resume.

    ``max_shrink``: the largest share of the live version's documents the new version may lack; a bigger drop is
    an :class:`InputError` before anything is written (:meth:`ItemsIndex.check_shrink`; None: no check).
    Old versions are pruned to ``keep_versions``, the one the alias moved away from always among them.

    ``digest`` (:func:`indexer.digest.build_digest`) is recorded in the finished version's ``_meta`` (and in the live
    version's when it is found unchanged), for the next build to compare before it reads anything.

    ``shards`` and ``replicas`` shape a new version (a resumed one keeps its own). Creating it waits for the primary
    shards only, so on a cluster with a node down the build completes with replicas still unassigned (yellow).

    ``learned`` (called only when documents will be written): the active model's learned vectors, written into
    every document of the new version with the rest of it (not when its model reads text vectors of another
    dimension than ``embedder``'s). A half-built version is resumed only by a build of the same model's vectors."""
    enrichments = enrichments or {}
    key = {"embedding_model": embedder.name, "dimension": embedder.dimension, "schema_version": SCHEMA_VERSION}
    if not force:
        unchanged = _unchanged_live(client, index, items, enrichments, embedder)
        if unchanged:
            if digest:  # the same documents from another file or settings: the next build skips at once
                index.update_meta(unchanged, {META_DIGEST: digest, META_DOCUMENTS: len(items)})
            return BuildResult(unchanged, unchanged, 0, rejects or [], skipped=len(items), up_to_date=True)
    index.check_shrink(len(items), max_shrink)
    vectors = reads(learned() if learned else None, embedder.dimension)
    key.update(learned_meta(vectors))
    name = index.unfinished_version(key) if resume else None
    resumed = name is not None
    if name is None:
        name = index.create_version(
            embedder.dimension, {**key, **(meta or {}), "build_state": BUILDING}, shards=shards, replicas=replicas,
            extra={BEHAVIOUR_FIELD: field_mapping(vectors.dim)} if vectors else None,
        )  # fmt: skip
    result = BuildResult(name, None, 0, rejects or [], resumed=resumed)
    try:
        in_target = existing_hashes(client, name, index.url) if resumed else {}
        live = index.live_version()
        reuse = None
        if live and index.meta(live).get("embedding_model") == embedder.name:
            reuse = (live, LiveHashes(lambda: existing_hashes(client, live, index.url)))
        actions = document_actions(
            client,
            items,
            enrichments,
            embedder,
            name,
            in_target=in_target,
            reuse_from=reuse,
            result=result,
            url=index.url,
            learned=vectors,
        )
        written = bulk_load(client, actions, len(items), chunk_size, progress, index.url, start=0)
        if in_target:  # a resumed version may hold items the catalog no longer has
            result.deleted = delete_missing(client, name, in_target, {it.id for it in items}, index.url)
        result.indexed = written + result.skipped
        if progress:
            progress(len(items), len(items))
        index.finish_build(name, {META_DIGEST: digest, META_DOCUMENTS: result.indexed})
    except Exception:
        index.drop(name)
        raise
    result.previous = index.swap_alias(name)
    result.pruned = index.prune(keep_versions, previous=result.previous)
    return result


def _unchanged_live(
    client: OpenSearch,
    index: ItemsIndex,
    items: Collection[Item],
    enrichments: dict[str, Enrichment],
    embedder: Embedder,
) -> str | None:
    """The live version when it already holds exactly these documents (same ids, same hashes, same model)."""
    live = index.live_version()
    if not live:
        return None
    meta = index.meta(live)
    if meta.get("embedding_model") != embedder.name or meta.get("schema_version") != SCHEMA_VERSION:
        return None
    present = existing_hashes(client, live, index.url)
    if len(present) != len(items):
        return None
    for item in items:
        if present.get(item.id) != item_document(item, None, enrichments.get(item.id), embedder.name)["doc_hash"]:
            return None
    return live
