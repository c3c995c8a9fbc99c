"""GET /v1/similar/{item_id}: the nearest items to one item, reranked for the user when one is given; items the
catalog marks not recommendable (postage, fees) are never among them (the item asked about may be one)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ranker.service.auth import may_see_history, require
from ranker.service.ranking import rank
from ranker.service.routes.common import check_k, deps_of, item_results, metrics_of
from ranker.service.schemas import ItemsResponse, PathId, Text

router = APIRouter(tags=["similar"])


@router.get("/v1/similar/{item_id}", response_model=ItemsResponse, dependencies=[Depends(require("read"))])
def similar(
    request: Request,
    item_id: PathId,
    k: int = Query(10, ge=1, description="How many similar items."),
    user_id: Text | None = Query(None, max_length=200, description="Order the similar items for this user."),
) -> ItemsResponse:
    """Items most like ``item_id`` (k-NN on its vector), the item itself and items not to recommend left out."""
    deps, metrics = deps_of(request), metrics_of(request)
    check_k(deps, k)
    vecs, known = deps.vectors_for([item_id])
    if not known[0]:
        raise HTTPException(404, f"item '{item_id}' is not in the index")
    n = max(k, deps.settings.service.candidates) if user_id else k
    hits = [h for h in deps.index.get().knn(vecs[0].tolist(), n + 1, recommendable_only=True) if h.id != item_id][:n]
    ranking = rank(deps, user_id, [(h.id, h.score) for h in hits], metrics=metrics, limit=k, query_order=True)
    return ItemsResponse(
        user_id=user_id,
        personalized=ranking.personalized,
        reason=ranking.reason,
        model_version=ranking.model_version,
        source="item_knn",
        results=item_results(ranking, hits, k, may_see_history(request)),
    )
