"""Request and response bodies of the service (their JSON schema is the OpenAPI document at /docs)."""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

import numpy as np
from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

#: Why a response is not personalized (``personalized: false``); see docs/architecture.md.
FallbackReason = Literal[
    "unknown_user", "no_user", "no_history", "model_unavailable", "profile_store_unavailable", "profile_store_timeout"
]

ItemId = Field(min_length=1, max_length=200)

#: OpenSearch k-NN's largest vector dimension: no longer query vector can be meant.
MAX_VECTOR_DIMENSION = 16000

#: Hit scores are computed in float32 and min-max scaled: beyond this magnitude the span of two scores overflows
#: float32 and the ranker's scores would become NaN (``null`` in JSON). OpenSearch scores are far below it.
MAX_SCORE = 1e38


def no_nul(value: str | None) -> str | None:
    """Refuse NUL characters (PostgreSQL cannot store them: a 500 later instead of a 422 naming the field now)."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


#: A text field of a request: no NUL characters.
Text = Annotated[str, AfterValidator(no_nul)]

#: A UBI query_id the caller passes (its own, e.g. the storefront's UBI client's): a UUID or another id of letters,
#: digits and ``._:-``, at most 100 characters. Without one the service makes a UUID4.
QueryId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$",
        description="The UBI query_id of this answer (default: a new UUID4); events that carry it are attributed to "
        "what was shown (docs/ubi.md).",
    ),
]

#: An id in a request path (``/v1/recommend/{user_id}``): 1 to 200 characters, no NUL.
PathId = Annotated[str, AfterValidator(no_nul), Path(min_length=1, max_length=200)]


class _Strict(BaseModel):
    # Unknown fields are refused so a typo ("user" for "user_id") is a clear 422, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class HitIn(_Strict):
    """One OpenSearch hit the plugin sends."""

    id: Text = ItemId
    score: float = Field(
        description="The OpenSearch score of the hit.", allow_inf_nan=False, ge=-MAX_SCORE, le=MAX_SCORE
    )


class PageIn(_Strict):
    """Where the hits sent sit in the search's ordering and which slice of it the shopper sees (the plugin's
    ``from``/``size``): the answer is recorded as exactly that page (docs/plugin.md)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: int = Field(alias="from", ge=0, le=1_000_000, description="The page's first place (0-based).")
    size: int = Field(ge=0, le=1_000_000, description="How many places the page shows.")
    positions: list[Annotated[int, Field(ge=0, le=1_000_000)]] = Field(
        description="The place (0-based, in the whole ordering) of each slot the hits sent occupy, one per hit, "
        "rising: the answer's results fill these slots in order; the places between them keep hits not sent."
    )

    @field_validator("positions")
    @classmethod
    def _rising(cls, value: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("must be strictly rising")
        return value


class RerankRequest(_Strict):
    """POST /v1/rerank: hits of one search to order for one user."""

    user_id: Text | None = Field(None, max_length=200, description="The shopper; absent or null for anonymous.")
    hits: list[HitIn] = Field(description="The hits to rerank (at most RECSEARCH_SERVICE_MAX_HITS).")
    query_id: QueryId | None = None
    blend_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="The plugin's blend_weight w: the answer is then the order shown, (1 - w) * minmax(OpenSearch "
        "score) + w * minmax(ranker score), with ``blended: true`` (absent: the ranker's order, as before).",
    )
    page: PageIn | None = Field(
        None, description="The page shown (absent: the answer is recorded in its order from position 1)."
    )


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
    """Every hit sent, sorted by ``score`` (or in the order sent when ``personalized`` is false); with ``blended``,
    in the order to show (under interleaving each result keeps its blended score in its own version's list)."""

    user_id: str | None
    personalized: bool
    reason: FallbackReason | None
    model_version: str | None
    query_id: str = Field(description="The UBI query_id this answer is recorded under (the request's, or a new one).")
    blended: bool = Field(
        False,
        description="The results are in the blended order the shopper sees (the request's blend_weight), each with "
        "its blended score: the caller shows them as they are.",
    )
    results: list[RerankResult]


class ItemResult(RerankResult):
    """A result of search, recommend or similar: a reranked hit with what the shop shows."""

    title: str = ""
    category: str = ""
    price: float | None = None


class Filters(_Strict):
    """Exact and range filters applied inside the k-NN search."""

    category: Text | None = Field(None, max_length=200, description="Exact category.")
    # The index keeps prices as float32: a bound beyond its range is refused by OpenSearch (a 503 otherwise).
    min_price: float | None = Field(None, ge=0, le=MAX_SCORE, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, le=MAX_SCORE, allow_inf_nan=False)


class SearchRequest(_Strict):
    """POST /v1/search."""

    query: Text = Field(min_length=1, max_length=500, description="What the shopper typed.")
    user_id: Text | None = Field(None, max_length=200)
    k: int = Field(10, ge=1, description="Results to return (at most RECSEARCH_SERVICE_MAX_K).")
    offset: int = Field(
        0,
        ge=0,
        description="Results to skip: the page [offset, offset + k) of one ordering (the first "
        "RECSEARCH_SERVICE_CANDIDATES hits in the user's order, then retrieval's), so pages never repeat or skip.",
    )
    filters: Filters | None = None
    vector: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        None,
        min_length=1,
        max_length=MAX_VECTOR_DIMENSION,
        description="The query's embedding when the caller already has it (skips embedding the query): finite "
        "numbers, not all zero, as many as the index's vectors have.",
    )
    mode: Literal["hybrid", "knn"] | None = Field(
        None, description="hybrid (BM25 + k-NN) or knn candidates; default RECSEARCH_SERVICE_SEARCH_MODE."
    )
    query_id: QueryId | None = None

    @field_validator("vector")
    @classmethod
    def _has_direction(cls, value: list[float] | None) -> list[float] | None:
        # OpenSearch computes cosines in float32: a vector whose float32 norm is zero (no direction) or overflows
        # would be refused there, a 503 that looks like an outage to the caller.
        if value is None:
            return value
        with np.errstate(over="ignore"):
            norm = float(np.linalg.norm(np.asarray(value, dtype=np.float32)))
        if norm == 0.0:
            raise ValueError("must not be all zeros")
        if not math.isfinite(norm):
            raise ValueError("is too large: its length overflows float32")
        return value


class ItemsResponse(BaseModel):
    """Results of search, recommend or similar."""

    user_id: str | None
    personalized: bool
    reason: FallbackReason | None
    model_version: str | None
    source: str = Field(
        description="Where the candidates came from: knn, hybrid, bm25 (no model embeds a text query into the "
        "index's own vectors), history_knn, popularity, item_knn."
    )
    query_id: str | None = Field(
        None, description="The UBI query_id this answer is recorded under (search and recommend; docs/ubi.md)."
    )
    results: list[ItemResult]


class SearchResponse(ItemsResponse):
    query: str
    offset: int = Field(0, description="The first result's place in the ordering (the request's offset).")
    total: int = Field(
        0,
        description="Results the ordering holds: the window's hits, plus those past it when the page reaches further "
        "(a search has at most max(RECSEARCH_SERVICE_CANDIDATES, offset + k)); a page from total on is empty.",
    )
    window: int = Field(0, description="The fixed window ordered for the user (RECSEARCH_SERVICE_CANDIDATES).")


class EventsAccepted(BaseModel):
    """What POST /v1/events stored."""

    accepted: int
    detail: dict = {}
