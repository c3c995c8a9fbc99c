"""POST /v1/search: embed the query, fetch OpenSearch candidates (hybrid when the index offers it, else k-NN),
rerank them for the user."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Depends, Request, Response

from core.errors import AuthenticationFailed, ClusterUnreachable, InputError, OpenSearchError
from ranker.service.auth import require
from ranker.service.ranking import rank
from ranker.service.routes.common import check_k, deps_of, item_results, metrics_of
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
    vector = body.vector if body.vector is not None else deps.embed_query(query)
    dim = deps.vector_dimension()
    if body.vector is not None and dim is not None and len(body.vector) != dim:
        raise InputError(f"expected {dim} numbers, got {len(body.vector)}", field="vector")
    t1 = time.perf_counter()
    index = deps.index.get()
    n = max(body.k, deps.settings.service.candidates)
    filters = body.filters.model_dump(exclude_none=True) if body.filters else None
    hits, source = None, "knn"
    if (body.mode or deps.settings.service.search_mode) == "hybrid":
        try:
            hits = index.hybrid(query, vector, n, filters)
            source = "hybrid"
        except (ClusterUnreachable, AuthenticationFailed):
            raise
        except OpenSearchError as e:  # the BM25 half failed (e.g. an old index without its fields): k-NN still answers
            log.warning("hybrid search failed, using k-NN: %s", e)
    if hits is None:
        hits, source = index.knn(vector, n, filters), "knn"
    t2 = time.perf_counter()
    ranking = rank(deps, body.user_id, [(h.id, h.score) for h in hits], metrics=metrics, limit=body.k, query_order=True)
    t3 = time.perf_counter()
    out = SearchResponse(
        query=body.query,
        user_id=body.user_id,
        personalized=ranking.personalized,
        reason=ranking.reason,
        model_version=ranking.model_version,
        source=source,
        results=item_results(ranking, hits, body.k),
    )
    timing = f"embed;dur={(t1 - t0) * 1000:.2f}, retrieve;dur={(t2 - t1) * 1000:.2f}, rank;dur={(t3 - t2) * 1000:.2f}"
    # Serialized here, once: FastAPI would otherwise validate the response again against response_model.
    return Response(out.model_dump_json(), media_type="application/json", headers={"Server-Timing": timing})
