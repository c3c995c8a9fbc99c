"""Queries against the items alias: k-NN over the vector, BM25 over the text fields, and hybrid (both, fused).

The node has no neural-search plugin (so no ``hybrid`` query type); hybrid retrieval runs both queries and fuses
their rankings client-side with reciprocal rank fusion, ``score(d) = sum over lists of 1 / (rrf_k + rank)``, which
needs no score normalisation between BM25 and cosine scores.

Searches find every item, the ones the catalog marks not recommendable (postage, fees) too: a shop may want
"postage" found by its name. What recommends asks for ``recommendable_only`` (:data:`NOT_RECOMMENDABLE`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from core.opensearch.client import translate_errors

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

MODES = ("knn", "bm25", "hybrid")
SOURCE_FIELDS = ["item_id", "title", "description", "category", "price", "enriched_description"]
#: BM25 fields and boosts: the title counts most; the enriched text and attributes widen recall.
BM25_FIELDS = [
    "title^3",
    "description^1.5",
    "category^1.5",
    "text",
    "enriched_description",
    "attributes.category",
    "attributes.material",
    "attributes.colour",
    "attributes.style",
    "attributes.occasion",
    "attributes.keywords^1.5",
]


#: The clause that leaves out items marked not recommendable, as a ``must_not``: a document without the field (a
#: version of schema 2, written before it existed) stays in.
NOT_RECOMMENDABLE = {"term": {"recommendable": False}}


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    score: float
    title: str
    category: str = ""
    price: float | None = None
    enriched_description: str = ""


def knn_query(
    vector: list[float],
    k: int,
    filters: dict[str, Any] | None = None,
    exclude: Collection[str] = (),
    *,
    recommendable_only: bool = False,
    field: str = "vector",
) -> dict[str, Any]:
    """The body of a k-NN search for ``vector`` over the k-NN ``field`` (the text vectors, or the learned ones:
    :data:`BEHAVIOUR_FIELD`), optionally filtered by exact field values, without the items in ``exclude`` and
    (``recommendable_only``) without the items marked not recommendable. The filter runs inside the k-NN search
    (Lucene's filtered HNSW), so the ``k`` hits are the nearest items that pass it, never fewer because some were
    filtered out afterwards."""
    knn: dict[str, Any] = {"vector": vector, "k": k}
    clauses: dict[str, list] = {}
    if filters:
        clauses["filter"] = [{"term": {f: v}} for f, v in filters.items()]
    if exclude:
        clauses["must_not"] = [{"terms": {"item_id": sorted(exclude)}}]
    if recommendable_only:
        clauses.setdefault("must_not", []).append(NOT_RECOMMENDABLE)
    if clauses:
        knn["filter"] = {"bool": clauses}
    return {"size": k, "_source": SOURCE_FIELDS, "query": {"knn": {field: knn}}}


def bm25_query(text: str, k: int) -> dict[str, Any]:
    """The body of a BM25 search for ``text`` over title, original text, enriched text and attributes."""
    return {
        "size": k,
        "_source": SOURCE_FIELDS,
        "query": {"multi_match": {"query": text, "fields": BM25_FIELDS, "type": "best_fields", "tie_breaker": 0.3}},
    }


#: What a result list shows, read from doc values (columnar, per field) instead of ``_source``: a hit's stored
#: ``_source`` holds its 384-float vector and the long enriched text, and the fetch phase decompresses and parses
#: all of it (even with ``_source`` filtering) for every hit; for a 100-hit candidate pool that is most of the query.
DISPLAY_DOCVALUES = ["item_id", "title.raw", "category.raw", "price"]


def docvalue_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` fetching no stored fields (no ``_source``, no ``_id``) but :data:`DISPLAY_DOCVALUES`, read back by
    :func:`hits_from_response`. A title longer than the keyword's ``ignore_above`` (512) has no doc value: such a
    hit comes back with an empty title (the catalog gives every item one: read such hits' titles with ``mget``)."""
    out = {k: v for k, v in body.items() if k != "_source"}
    out["stored_fields"] = "_none_"
    out["docvalue_fields"] = DISPLAY_DOCVALUES
    return out


@lru_cache(maxsize=4096)  # prices repeat; numpy's repr costs microseconds per hit
def _float32_value(x: float) -> float:
    # A float field's doc value is the float32 nearest the indexed number (2.95 -> 2.950000047683716); its shortest
    # float32 repr is the number as written in the document, which is what _source gives back.
    return float(str(np.float32(x)))


def _hit_from_docvalues(h: dict[str, Any], fields: dict[str, list[Any]]) -> Hit:
    price = fields.get("price")
    return Hit(
        id=(fields.get("item_id") or [h.get("_id")])[0],
        score=float(h["_score"] or 0.0),
        title=(fields.get("title.raw") or [""])[0],
        category=(fields.get("category.raw") or [""])[0],
        price=_float32_value(price[0]) if price else None,
    )


def hits_from_response(response: dict[str, Any]) -> list[Hit]:
    """Turn a search response into :class:`Hit` objects (from ``_source``, or from the doc values of a
    :func:`docvalue_body` search)."""
    out = []
    for h in response["hits"]["hits"]:
        if "_source" not in h and "_id" not in h:  # a docvalue_body search: no stored fields at all
            out.append(_hit_from_docvalues(h, h.get("fields") or {}))
            continue
        src = h.get("_source") or {}
        out.append(
            Hit(
                id=src.get("item_id", h["_id"]),
                score=float(h["_score"] or 0.0),
                title=src.get("title", ""),
                category=src.get("category") or "",
                price=src.get("price"),
                enriched_description=src.get("enriched_description") or "",
            )
        )
    return out


def knn_search(
    client: OpenSearch,
    alias: str,
    vector: list[float],
    k: int = 10,
    filters: dict[str, Any] | None = None,
    url: str = "",
) -> list[Hit]:
    """The ``k`` nearest items to ``vector``."""
    with translate_errors(url, alias):
        response = client.search(index=alias, body=knn_query(vector, k, filters))
    return hits_from_response(response)


def bm25_search(client: OpenSearch, alias: str, text: str, k: int = 10, url: str = "") -> list[Hit]:
    """The ``k`` best BM25 matches for ``text``."""
    with translate_errors(url, alias):
        response = client.search(index=alias, body=bm25_query(text, k))
    return hits_from_response(response)


def rrf_fuse(rankings: list[list[Hit]], k: int, rrf_k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion of several rankings; the fused score replaces each hit's score."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (rrf_k + rank)
            first.setdefault(hit.id, hit)
    order = sorted(scores, key=lambda i: (-scores[i], i))[:k]
    return [
        Hit(i, scores[i], first[i].title, first[i].category, first[i].price, first[i].enriched_description)
        for i in order
    ]


def hybrid_search(
    client: OpenSearch,
    alias: str,
    text: str,
    vector: list[float],
    k: int = 10,
    candidates: int = 100,
    rrf_k: int = 60,
    url: str = "",
) -> list[Hit]:
    """BM25 and k-NN, ``candidates`` hits each, fused with RRF (one ``_msearch`` round trip)."""
    body: list[dict[str, Any]] = [{}, bm25_query(text, candidates), {}, knn_query(vector, candidates)]
    with translate_errors(url, alias):
        response = client.msearch(index=alias, body=body)
    rankings = []
    for part in response["responses"]:
        if "error" in part:
            from core.errors import OpenSearchError

            raise OpenSearchError(f"search on '{alias}' failed: {part['error'].get('reason', part['error'])}")
        rankings.append(hits_from_response(part))
    return rrf_fuse(rankings, k, rrf_k)
