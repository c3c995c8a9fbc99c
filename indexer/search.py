"""Queries against the items alias: k-NN over the vector (BM25 and hybrid arrive with the indexer issue)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from indexer.client import translate_errors

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

SOURCE_FIELDS = ["item_id", "title", "description", "category", "price"]


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    score: float
    title: str
    category: str = ""
    price: float | None = None


def knn_query(vector: list[float], k: int, filters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of a k-NN search for ``vector`` (optionally filtered by exact field values)."""
    knn: dict[str, Any] = {"vector": vector, "k": k}
    if filters:
        knn["filter"] = {"bool": {"filter": [{"term": {f: v}} for f, v in filters.items()]}}
    return {"size": k, "_source": SOURCE_FIELDS, "query": {"knn": {"vector": knn}}}


def hits_from_response(response: dict[str, Any]) -> list[Hit]:
    """Turn a search response into :class:`Hit` objects."""
    out = []
    for h in response["hits"]["hits"]:
        src = h.get("_source") or {}
        out.append(
            Hit(
                id=src.get("item_id", h["_id"]),
                score=float(h["_score"] or 0.0),
                title=src.get("title", ""),
                category=src.get("category") or "",
                price=src.get("price"),
            )
        )
    return out


def knn_search(
    client: OpenSearch, alias: str, vector: list[float], k: int = 10, filters: dict[str, Any] | None = None, url: str = ""
) -> list[Hit]:
    """The ``k`` nearest items to ``vector``."""
    with translate_errors(url, alias):
        response = client.search(index=alias, body=knn_query(vector, k, filters))
    return hits_from_response(response)
