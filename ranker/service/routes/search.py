"""POST /v1/search: embed the query, fetch OpenSearch candidates (hybrid when the index offers it, else k-NN),
rerank them for the user, and return the page asked for (``offset``, ``k``) of that one ordering
(:mod:`ranker.service.paging`).

An index whose vectors are the shop's own with no model of their space (:mod:`indexer.vectors`) cannot put a text
query into its vector space: its candidates come from BM25 alone (``source: "bm25"``), still ordered for the user;
a request that brings its own ``vector`` gets k-NN (or hybrid) as on any index."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from core.errors import AuthenticationFailed, ClusterUnreachable, ComponentUnavailable, InputError, OpenSearchError
from ranker.feedback import RETRIEVAL, new_query_id
from ranker.service.auth import may_see_history, require
from ranker.service.experiment import rank_for
from ranker.service.paging import page_of, past_window, slice_ordering
from ranker.service.routes.common import check_k, deps_of, item_results, metrics_of, placed_at, record_answer
from ranker.service.schemas import SearchRequest, SearchResponse

router = APIRouter(tags=["search"])
log = logging.getLogger("recsearch.service")


@router.post("/v1/search", response_model=SearchResponse, dependencies=[Depends(require("read"))])
def search(body: SearchRequest, request: Request) -> Response:
    """Search the catalog for ``query`` and order the results for ``user_id`` (with explanations).

    The ``Server-Timing`` header gives the time spent embedding, retrieving and ranking."""
    deps, metrics = deps_of(request), metrics_of(request)
    t0 = time.perf_counter()
    check_k(deps, body.k)
    query = body.query.strip()
    if not query:
        raise InputError("the query is empty", field="query")
    if body.vector is not None:
        dim = _dimension(deps)
        if dim is not None and len(body.vector) != dim:
            raise InputError(f"expected {dim} numbers, got {len(body.vector)}", field="vector")
    vector = body.vector
    if vector is None and deps.query_model():  # else no model of the index's space: BM25 answers (_retrieve)
        vector = deps.embed_query(query)
    t1 = time.perf_counter()
    # A FIXED window (the same for every page) is retrieved and ordered for the user; a page reaching past it gets
    # its tail from a deeper retrieval, in retrieval order: every page is a slice of one ordering.
    page = page_of(body.offset, body.k, deps.settings.service.candidates)
    filters = body.filters.model_dump(exclude_none=True) if body.filters else None
    mode = body.mode or deps.settings.service.search_mode
    hits, source = _retrieve(deps, mode, query, vector, page.window, filters)
    tail = []
    if page.beyond_window and len(hits) >= page.window:  # fewer: the query has no more to give
        tail = past_window(hits, _retrieve(deps, source, query, vector, page.end, filters)[0])
    t2 = time.perf_counter()
    ranking = rank_for(deps, body.user_id, [(h.id, h.score) for h in hits], query=f"search:{query}",
                       metrics=metrics, limit=page.ranked, query_order=True)  # fmt: skip
    results = slice_ordering(ranking.results, tail, page)
    t3 = time.perf_counter()
    query_id = body.query_id or new_query_id()
    # The ordering's first min(ranked, window) places are the user's order; the rest retrieval's (past the window).
    ranked = min(len(ranking.results), page.window)
    placed = [placed_at(ranking, page.offset + n) if page.offset + n < ranked else RETRIEVAL
              for n in range(len(results))]  # fmt: skip
    record_answer(deps, query_id=query_id, application="search", user_id=body.user_id, user_query=body.query,
                  ids=[r.id for r in results], placed=placed, ranking=ranking, offset=page.offset)  # fmt: skip
    out = SearchResponse(
        query=body.query,
        user_id=body.user_id,
        personalized=ranking.personalized,
        reason=ranking.reason,
        model_version=ranking.model_version,
        source=source,
        query_id=query_id,
        offset=page.offset,
        total=len(hits) + len(tail),
        window=page.window,
        results=item_results(
            dataclasses.replace(ranking, results=results), [*hits, *tail], len(results), may_see_history(request)
        ),
    )
    timing = f"embed;dur={(t1 - t0) * 1000:.2f}, retrieve;dur={(t2 - t1) * 1000:.2f}, rank;dur={(t3 - t2) * 1000:.2f}"
    # Serialized here, once: FastAPI would otherwise validate the response again against response_model.
    return Response(out.model_dump_json(), media_type="application/json", headers={"Server-Timing": timing})


def _retrieve(deps, mode: str, query: str, vector, n: int, filters: dict[str, Any] | None) -> tuple[list, str]:
    """The first ``n`` candidates and where they came from: hybrid when asked and the index offers it, else k-NN;
    BM25 when there is no query vector (no model of the index's space)."""
    index = deps.index.get()
    if vector is None:
        return index.bm25(query, n, filters), "bm25"
    if mode == "hybrid":
        try:
            return index.hybrid(query, vector, n, filters), "hybrid"
        except (ClusterUnreachable, AuthenticationFailed):
            raise
        except OpenSearchError as e:  # the BM25 half failed (e.g. an old index without its fields): k-NN still answers
            log.warning("hybrid search failed, using k-NN: %s", e)
    return index.knn(vector, n, filters), "knn"


def _dimension(deps) -> int | None:
    """The index's vector dimension, loading the item vectors when nothing has told it yet (a vector of the wrong
    length is the caller's mistake: a 422 naming it, not OpenSearch's refusal answered as an outage). None when
    the vectors cannot be loaded: OpenSearch is then the problem, answered as such."""
    dim = deps.vector_dimension()
    if dim is not None:
        return dim
    try:
        return int(deps.vectors.get().dim)
    except ComponentUnavailable:
        return None
