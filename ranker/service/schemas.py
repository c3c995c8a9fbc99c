"""Request and response bodies of the service (their JSON schema is the OpenAPI document at /docs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Why a response is not personalized (``personalized: false``); see docs/architecture.md.
FallbackReason = Literal[
    "unknown_user", "no_user", "no_history", "model_unavailable", "profile_store_unavailable", "profile_store_timeout"
]

ItemId = Field(min_length=1, max_length=200)


class _Strict(BaseModel):
    # Unknown fields are refused so a typo ("user" for "user_id") is a clear 422, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class HitIn(_Strict):
    """One OpenSearch hit the plugin sends."""

    id: str = ItemId
    score: float = Field(description="The OpenSearch score of the hit.", allow_inf_nan=False)


class RerankRequest(_Strict):
    """POST /v1/rerank: hits of one search to order for one user."""

    user_id: str | None = Field(None, max_length=200, description="The shopper; absent or null for anonymous.")
    hits: list[HitIn] = Field(description="The hits to rerank (at most RECSEARCH_SERVICE_MAX_HITS).")


class ExplanationOut(BaseModel):
    """A history item that explains a result ("because you bought ...")."""

    item_id: str
    title: str
    weight: float
    type: str


class RerankResult(BaseModel):
    """A hit with the ranker's score."""

    id: str
    score: float
    retrieval_score: float
    explanations: list[ExplanationOut] = []


class RerankResponse(BaseModel):
    """Every hit sent, sorted by ``score`` (or in the order sent when ``personalized`` is false)."""

    user_id: str | None
    personalized: bool
    reason: FallbackReason | None
    model_version: str | None
    results: list[RerankResult]


class ItemResult(RerankResult):
    """A result of search, recommend or similar: a reranked hit with what the shop shows."""

    title: str = ""
    category: str = ""
    price: float | None = None


class Filters(_Strict):
    """Exact and range filters applied inside the k-NN search."""

    category: str | None = Field(None, max_length=200, description="Exact category.")
    min_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False)


class SearchRequest(_Strict):
    """POST /v1/search."""

    query: str = Field(min_length=1, max_length=500, description="What the shopper typed.")
    user_id: str | None = Field(None, max_length=200)
    k: int = Field(10, ge=1, description="Results to return (at most RECSEARCH_SERVICE_MAX_K).")
    filters: Filters | None = None
    vector: list[float] | None = Field(
        None, description="The query's embedding when the caller already has it (skips embedding the query)."
    )
    mode: Literal["hybrid", "knn"] | None = Field(
        None, description="hybrid (BM25 + k-NN) or knn candidates; default RECSEARCH_SERVICE_SEARCH_MODE."
    )


class ItemsResponse(BaseModel):
    """Results of search, recommend or similar."""

    user_id: str | None
    personalized: bool
    reason: FallbackReason | None
    model_version: str | None
    source: str = Field(description="Where the candidates came from: knn, hybrid, history_knn, popularity, item_knn.")
    results: list[ItemResult]


class SearchResponse(ItemsResponse):
    query: str


class EventsAccepted(BaseModel):
    """What POST /v1/events stored."""

    accepted: int
    detail: dict = {}
