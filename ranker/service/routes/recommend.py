"""GET /v1/recommend/{user_id}: candidates around the user's history (k-NN on the history's mean vector, items
bought together with it, items selling now, and the user's own items when repeats are allowed), reranked;
popularity for a user without history (marked ``personalized: false`` with the reason)."""

from __future__ import annotations

import logging

import numpy as np
from fastapi import APIRouter, Depends, Path, Query, Request

from indexer.search import Hit
from ranker.service.auth import require
from ranker.service.deps import ServiceDeps
from core.errors import ComponentUnavailable
from ranker.service.ranking import empty_history_reason, load_history, rank, retrieval_order
from ranker.service.routes.common import check_k, deps_of, item_results, metrics_of
from ranker.service.schemas import ItemsResponse

router = APIRouter(tags=["recommend"])
log = logging.getLogger("recsearch.service")


def user_vector(deps: ServiceDeps, history: list) -> np.ndarray | None:
    """The interaction-weighted mean of the history items' vectors, unit length (None when none is known)."""
    ids = [h.item_id for h in history]
    vecs, known = deps.vectors_for(ids)
    if not known.any():
        return None
    weights = np.asarray([max(float(getattr(h, "weight", 1.0)), 0.0) for h in history], dtype=np.float32) * known
    if weights.sum() <= 0:
        weights = known.astype(np.float32)
    mean = (vecs * weights[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else None


def history_candidates(deps: ServiceDeps, history: list, user_vec: np.ndarray, exclude: set[str]) -> list[Hit]:
    """Items the user interacted with, scored by cosine to the user vector: repeat purchases are common."""
    ids = [i for i in dict.fromkeys(h.item_id for h in history) if i not in exclude]
    vecs, known = deps.vectors_for(ids)
    return [Hit(i, float(v @ user_vec), "") for i, v, k in zip(ids, vecs, known, strict=True) if k]


def model_candidates(deps: ServiceDeps, history: list, user_vec: np.ndarray, exclude: set[str], n: int) -> list[Hit]:
    """Items bought together with the history and the items selling now, from the active model's statistics
    (the ranker was trained to order exactly these), scored by cosine to the user vector; none without a model."""
    try:
        ranker = deps.get_ranker()
        ids = [*getattr(ranker, "companions", lambda h, n: [])(history, n),
               *getattr(ranker, "trending", lambda n: [])(n)]  # fmt: skip
    except Exception as e:  # no model (or a broken one): the k-NN candidates still get ranked or returned
        log.warning("no model candidates: %s", e)
        return []
    ids = [i for i in dict.fromkeys(ids) if i not in exclude]
    if not ids:
        return []
    vecs, known = deps.vectors_for(ids)
    return [Hit(i, float(v @ user_vec), "") for i, v, k in zip(ids, vecs, known, strict=True) if k]


def popular(deps: ServiceDeps, k: int, exclude: set[str]) -> list[Hit]:
    """The most popular catalog items (empty when the event statistics are unavailable)."""
    try:
        ranked = deps.activity.get().popular(k * 3 + len(exclude), exclude)
    except ComponentUnavailable as e:
        log.warning("%s", e)
        return []
    info = deps.catalog.get().items([i for i, _ in ranked])
    return [Hit(i, s, info[i].title, info[i].category, info[i].price) for i, s in ranked if i in info][:k]


@router.get(
    "/v1/recommend/{user_id}", response_model=ItemsResponse, dependencies=[Depends(require("read"))]
)
def recommend(
    request: Request,
    user_id: str = Path(min_length=1, max_length=200),
    k: int = Query(10, ge=1, description="How many recommendations."),
    include_purchased: bool | None = Query(
        None, description="May items the user already bought come back? Default: RECSEARCH_SERVICE_RECOMMEND_INCLUDE_PURCHASED."
    ),
) -> ItemsResponse:
    """Recommendations for ``user_id``: nearest items to their history, ordered by the ranker."""
    deps, metrics = deps_of(request), metrics_of(request)
    check_k(deps, k)
    settings = deps.settings.service
    include = settings.recommend_include_purchased if include_purchased is None else include_purchased
    history = load_history(deps, user_id, metrics)
    vec = user_vector(deps, history) if history else None
    if vec is None:
        reason = "profile_store_unavailable" if history is None else (
            empty_history_reason(deps, user_id) if not history else "no_history")
        bought = {h.item_id for h in history or [] if h.type == "purchase"}
        hits = popular(deps, k, set() if include else bought)
        ranking = retrieval_order([(h.id, h.score) for h in hits], reason)
        metrics.fallbacks.labels(reason).inc()
        return _response(user_id, ranking, hits, k, "popularity")
    bought = {h.item_id for h in history if h.type == "purchase"}
    exclude = set() if include else bought
    n = max(k, settings.candidates)
    hits = [h for h in deps.catalog.get().knn(vec.tolist(), n + len(exclude)) if h.id not in exclude][:n]
    extra = history_candidates(deps, history, vec, exclude) if include else []
    extra += model_candidates(deps, history, vec, exclude, n)
    seen = {h.id for h in hits}
    extra = [h for h in extra if h.id not in seen and not seen.add(h.id)]  # each item once
    if extra:
        info = deps.catalog.get().items([h.id for h in extra])
        hits += [Hit(h.id, h.score, info[h.id].title, info[h.id].category, info[h.id].price)
                 for h in extra if h.id in info]  # fmt: skip
        hits.sort(key=lambda h: h.score, reverse=True)
    ranking = rank(deps, user_id, [(h.id, h.score) for h in hits], history=history, metrics=metrics, limit=k)
    return _response(user_id, ranking, hits, k, "history_knn")


def _response(user_id: str, ranking, hits: list[Hit], k: int, source: str) -> ItemsResponse:
    return ItemsResponse(
        user_id=user_id,
        personalized=ranking.personalized,
        reason=ranking.reason,
        model_version=ranking.model_version,
        source=source,
        results=item_results(ranking, hits, k),
    )
