"""The catalog as the evaluation sees it: every item of a live index (ids, searchable text, vectors), and the
searches the baselines run against that index.

:class:`ItemSearch` is the interface; :class:`OpenSearchItems` runs real k-NN and BM25 queries (batched with
``_msearch``); unit tests pass a small in-memory fake. Searches that recommend leave out the items the index marks
not recommendable, as the service's do: the evaluation measures what is served.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.errors import IndexMissing, OpenSearchError
from core.opensearch.client import translate_errors
from core.opensearch.documents import TEXT_FIELDS, read_items
from indexer.search import NOT_RECOMMENDABLE, knn_query

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

#: (item id, score) pairs, best first.
ScoredIds = list[tuple[str, float]]


@dataclass
class IndexSnapshot:
    """Every item of one index: ids, the text that was indexed, unit-length vectors, the index's metadata and which
    items may be recommended."""

    ids: list[str]
    texts: list[str]
    vectors: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    prices: list[float | None] | None = None
    #: The vectors as the index stores them (``vectors`` are scaled to unit length for the baselines' cosines): what
    #: the ranking service loads, so the attention ranker is evaluated on exactly the service's inputs.
    stored_vectors: np.ndarray | None = None
    #: (N,) bool: the item may be recommended (None: every item may). Rankers rank only these; the others (postage,
    #: fees) are still history, never a recommendation nor a target.
    recommendable: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.position = {item: i for i, item in enumerate(self.ids)}
        flags = np.ones(len(self.ids), dtype=bool) if self.recommendable is None else self.recommendable
        self.recommendable = np.asarray(flags, dtype=bool)
        #: The ids of the items that may be recommended.
        self.recommendable_ids = frozenset(i for i, ok in zip(self.ids, self.recommendable, strict=True) if ok)

    def __contains__(self, item: object) -> bool:
        return item in self.position

    def __len__(self) -> int:
        return len(self.ids)

    def vectors_of(self, items: Sequence[str]) -> np.ndarray:
        """Vectors of the known ``items`` (unknown ones are skipped)."""
        rows = [self.position[i] for i in items if i in self.position]
        return self.vectors[rows]

    def text_of(self, item: str) -> str:
        return self.texts[self.position[item]]


class ItemSearch(Protocol):
    """Searches over one index; ``exclude[i]`` lists ids the i-th query must not return."""

    def knn(self, vectors: np.ndarray, k: int, exclude: Sequence[Sequence[str]]) -> list[ScoredIds]: ...

    def knn_ids(self, vector: Sequence[float], k: int, exclude: Collection[str]) -> list[str]: ...

    def bm25(self, texts: Sequence[str], k: int, exclude: Sequence[Sequence[str]]) -> list[ScoredIds]: ...

    def bm25_scores(self, text: str, ids: Sequence[str]) -> dict[str, float]: ...


#: Re-embeds texts with the model an index was built with: (model name from the index _meta, texts) -> vectors.
EmbedFn = Callable[[str, list[str]], np.ndarray]


def load_catalog(client: OpenSearch, alias: str, url: str = "", embed: EmbedFn | None = None) -> IndexSnapshot:
    """Every item of the live index behind ``alias`` in memory (Online Retail: ~3.9k items, a few MB).

    An item's text is the text its vector embeds (the enriched text where the index holds one). When the cluster
    cannot return the stored vectors and ``embed`` is given, the texts are embedded again with the model named in the
    index's ``_meta.embedding_model``: the same model on the same text gives the indexed vectors."""
    fields = [*TEXT_FIELDS, "price", "recommendable"]
    try:
        docs = read_items(client, alias, [*fields, "vector"], url)
        vectors = docs.columns["vector"]
    except OpenSearchError as e:
        if embed is None or isinstance(e, IndexMissing):
            raise
        docs = read_items(client, alias, fields, url)
        if not docs.meta.get("embedding_model"):
            raise
        vectors = None
    meta = {**docs.meta, "version": docs.version}
    if not docs.ids:
        raise IndexMissing(f"index '{alias}' on {url} has no items")
    texts = docs.texts()
    if vectors is None:
        vectors = embed(str(meta["embedding_model"]), texts)
        meta["vectors"] = "re-embedded locally (the cluster could not return stored vectors)"
    stored = np.asarray(vectors, dtype=np.float32)
    unit = stored / np.maximum(np.linalg.norm(stored, axis=1, keepdims=True), 1e-12)
    # A version written before the flag existed (schema 2) has no `recommendable`: every item may be recommended.
    flags = np.array([flag is not False for flag in docs.columns["recommendable"]], dtype=bool)
    return IndexSnapshot(docs.ids, texts, unit, meta, list(docs.columns["price"]), stored, flags)


def _must_not(ids: Sequence[str]) -> list[dict]:
    return [NOT_RECOMMENDABLE, *([{"terms": {"item_id": list(ids)}}] if ids else [])]


class OpenSearchItems:
    """k-NN and BM25 queries against the real index, sent ``batch`` at a time through ``_msearch``; both leave out
    the items marked not recommendable (they are the recommendations of the k-NN and BM25 baselines and the
    candidate pool's k-NN)."""

    def __init__(self, client: OpenSearch, alias: str, url: str = "", batch: int = 50):
        self.client, self.alias, self.url, self.batch = client, alias, url, batch

    def _msearch(self, bodies: list[dict]) -> list[ScoredIds]:
        out: list[ScoredIds] = []
        for start in range(0, len(bodies), self.batch):
            lines: list[dict] = []
            for body in bodies[start : start + self.batch]:
                lines += [{"index": self.alias}, body]
            with translate_errors(self.url, self.alias):
                response = self.client.msearch(body=lines)
            for r in response["responses"]:
                if "error" in r:
                    raise OpenSearchError(f"search on '{self.alias}' failed: {r['error']}")
                out.append([(h["_source"]["item_id"], float(h["_score"] or 0.0)) for h in r["hits"]["hits"]])
        return out

    def knn(self, vectors: np.ndarray, k: int, exclude: Sequence[Sequence[str]]) -> list[ScoredIds]:
        bodies = [
            {**knn_query([float(x) for x in vector], k, exclude=skip, recommendable_only=True), "_source": ["item_id"]}
            for vector, skip in zip(vectors, exclude, strict=True)
        ]
        return self._msearch(bodies)

    def knn_ids(self, vector: Sequence[float], k: int, exclude: Collection[str]) -> list[str]:
        """One k-NN query (the candidate pool's, :func:`ranker.model.candidates.candidate_pool`)."""
        return [item for item, _ in self.knn(np.asarray([vector]), k, [sorted(exclude)])[0]]

    def bm25(self, texts: Sequence[str], k: int, exclude: Sequence[Sequence[str]]) -> list[ScoredIds]:
        bodies = [
            {
                "size": k,
                "_source": ["item_id"],
                "query": {"bool": {"must": [{"match": {"text": text}}], "must_not": _must_not(skip)}},
            }
            for text, skip in zip(texts, exclude, strict=True)
        ]
        return self._msearch(bodies)

    def bm25_scores(self, text: str, ids: Sequence[str]) -> dict[str, float]:
        body = {
            "size": len(ids),
            "_source": ["item_id"],
            "query": {"bool": {"must": [{"match": {"text": text}}], "filter": [{"terms": {"item_id": list(ids)}}]}},
        }
        return dict(self._msearch([body])[0])
