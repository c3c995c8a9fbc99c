"""POST /v1/rerank: the endpoint the OpenSearch plugin calls with the hits of one search (docs/architecture.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from core.errors import InputError
from ranker.service.auth import may_see_history, require
from ranker.service.ranking import rank
from ranker.service.routes.common import deps_of, metrics_of
from ranker.service.schemas import RerankRequest, RerankResponse, RerankResult

router = APIRouter(tags=["rerank"])


@router.post("/v1/rerank", response_model=RerankResponse, dependencies=[Depends(require("read"))])
async def rerank(body: RerankRequest, request: Request) -> Response:
    """Every hit sent, ordered for ``user_id``; in the order sent (``personalized: false``) when that cannot be."""
    deps = deps_of(request)
    limit = deps.settings.service.max_hits
    if len(body.hits) > limit:
        raise InputError(
            f"at most {limit} hits per request (RECSEARCH_SERVICE_MAX_HITS), got {len(body.hits)}", field="hits"
        )
    args = (deps, body.user_id, [(h.id, h.score) for h in body.hits])
    if deps.ready_for_inline_ranking():
        # About a millisecond of work: run it here rather than pay a thread hand-off, which under CPU load costs
        # more than the work itself (the plugin waits on this call for every search).
        ranking = rank(*args, metrics=metrics_of(request), query_order=True)
    else:  # a part is still loading: do not block the event loop on its lock
        ranking = await run_in_threadpool(rank, *args, metrics=metrics_of(request), query_order=True)
    explain = may_see_history(request)  # explanations name the user's history items: personal scope only
    out = RerankResponse(
        user_id=body.user_id,
        personalized=ranking.personalized,
        reason=ranking.reason,
        model_version=ranking.model_version,
        results=[RerankResult(id=r.id, score=r.score, retrieval_score=r.retrieval_score,
                              explanations=r.explanations if explain else []) for r in ranking.results],
    )  # fmt: skip
    # Serialized here, once: FastAPI would otherwise validate the 100+ results again against response_model.
    return Response(out.model_dump_json(), media_type="application/json")
