"""POST /v1/rerank: the endpoint the OpenSearch plugin calls with the hits of one search (docs/architecture.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from core.errors import InputError
from ranker.feedback import new_query_id
from ranker.service.auth import may_see_history, require
from ranker.service.experiment import rank_for
from ranker.service.routes.common import deps_of, metrics_of, placements, record_answer
from ranker.service.schemas import RerankRequest, RerankResponse, RerankResult

router = APIRouter(tags=["rerank"])


@router.post("/v1/rerank", response_model=RerankResponse, dependencies=[Depends(require("read"))])
def rerank(body: RerankRequest, request: Request) -> Response:
    """Every hit sent, ordered for ``user_id``; in the order sent (``personalized: false``) when that cannot be.

    A sync route (the thread pool), never on the event loop: the profile read waits on the database (at most
    RECSEARCH_SERVICE_PROFILE_DEADLINE_MS), and a model being swapped may still be loading."""
    deps = deps_of(request)
    limit = deps.settings.service.max_hits
    if len(body.hits) > limit:
        raise InputError(
            f"at most {limit} hits per request (RECSEARCH_SERVICE_MAX_HITS), got {len(body.hits)}", field="hits"
        )
    hits = [(h.id, h.score) for h in body.hits]
    # The plugin sends the hits of one search: their ids key the experiment's interleaving (same search, same list).
    ranking = rank_for(deps, body.user_id, hits, query="rerank:" + ",".join(i for i, _ in hits),
                       metrics=metrics_of(request), query_order=True)  # fmt: skip
    explain = may_see_history(request)  # explanations name the user's history items: personal scope only
    query_id = body.query_id or new_query_id()
    # Recorded in the ranker's order: the plugin blends it with OpenSearch's scores and shows a page of it after.
    ids = [r.id for r in ranking.results]
    record_answer(deps, query_id=query_id, application="rerank", user_id=body.user_id, user_query=None, ids=ids,
                  placed=placements(ranking, len(ids)), ranking=ranking)  # fmt: skip
    out = RerankResponse(
        user_id=body.user_id,
        personalized=ranking.personalized,
        reason=ranking.reason,
        model_version=ranking.model_version,
        query_id=query_id,
        results=[RerankResult(id=r.id, score=r.score, retrieval_score=r.retrieval_score,
                              explanations=r.explanations if explain else []) for r in ranking.results],
    )  # fmt: skip
    # Serialized here, once: FastAPI would otherwise validate the 100+ results again against response_model.
    return Response(out.model_dump_json(), media_type="application/json")
