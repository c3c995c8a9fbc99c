"""GET /v1/recommend/{user_id}: candidates around the user's history (k-NN on the history's mean vector, items
bought together with it, items selling now, and the user's own items when repeats are allowed), reranked;
popularity for a user without history (marked ``personalized: false`` with the reason). Items the catalog marks
not recommendable (postage, fees) never come back, from any of these sources."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from core.errors import ComponentUnavailable
from indexer.search import Hit
from ranker.feedback import POPULARITY, new_query_id
from ranker.model import Pool, candidate_pool
from ranker.service.auth import may_see_history, require
from ranker.service.deps import ServiceDeps
from ranker.service.experiment import rank_for
from ranker.service.ranking import NoHistory, Ranking, empty_history_reason, load_history, retrieval_order
from ranker.service.routes.common import check_k, deps_of, item_results, metrics_of, placements, record_answer
from ranker.service.schemas import ItemsResponse, PathId, QueryId

router = APIRouter(tags=["recommend"])
log = logging.getLogger("recsearch.service")


def popular(deps: ServiceDeps, k: int, exclude: set[str]) -> list[Hit]:
    """The most popular catalog items that may be recommended (empty when the event statistics are unavailable).
    Postage is bought by nearly every customer: items marked not recommendable are left out, and the list is read
    further (twice as far each time) until ``k`` items remain or it ends."""
    want = k * 3 + len(exclude)
    while True:
        try:
            ranked = deps.activity.get().popular(want, exclude)
        except ComponentUnavailable as e:
            log.warning("%s", e)
            return []
        ids = [i for i, _ in ranked]
        info = deps.index.get().items(ids)
        banned = deps.unrecommendable([i for i in ids if i in info])
        hits = [Hit(i, s, info[i].title, info[i].category, info[i].price) for i, s in ranked
                if i in info and i not in banned]  # fmt: skip
        if len(hits) >= k or len(ranked) < want:
            return hits[:k]
        want *= 2


@router.get("/v1/recommend/{user_id}", response_model=ItemsResponse, dependencies=[Depends(require("read"))])
def recommend(
    request: Request,
    user_id: PathId,
    k: int = Query(10, ge=1, description="How many recommendations."),
    include_purchased: bool | None = Query(
        None,
        description="May items the user already bought come back? true needs the personal scope. "
        "Default: RECSEARCH_SERVICE_RECOMMEND_INCLUDE_PURCHASED with the personal scope, false without it.",
    ),
    query_id: QueryId | None = Query(None),
) -> ItemsResponse:
    """Recommendations for ``user_id``: the candidate pool of their history (k-NN, own items, co-purchases, what sells
    now; :mod:`ranker.model.candidates`), ordered by the ranker. What `recadmin evaluate` measures."""
    deps, metrics = deps_of(request), metrics_of(request)
    check_k(deps, k)
    settings = deps.settings.service
    personal = may_see_history(request)
    if include_purchased and not personal:
        raise HTTPException(403, "include_purchased=true needs the 'personal' scope: it returns the user's own items")
    # Without the personal scope the user's own purchases never come back: they would list their history.
    default = settings.recommend_include_purchased and personal
    include = default if include_purchased is None else include_purchased
    history = load_history(deps, user_id, metrics)
    missing = isinstance(history, NoHistory)
    bought = set() if include or missing else _bought(deps, user_id, history)
    pool = _pool(deps, history, include, bought) if history and not missing else None
    if pool is None or pool.vector is None:
        if isinstance(history, NoHistory):
            reason = history.reason
        else:
            reason = empty_history_reason(deps, user_id) if not history else "no_history"
        hits = popular(deps, k, bought)
        ranking = retrieval_order([(h.id, h.score) for h in hits], reason)
        metrics.fallbacks.labels(reason).inc()
        return _response(deps, query_id, user_id, ranking, hits, k, "popularity", personal)
    ranking = rank_for(deps, user_id, [(c.id, c.retrieval_score) for c in pool.candidates], query="recommend",
                       history=history, metrics=metrics, limit=k)  # fmt: skip
    shown = deps.index.get().items([r.id for r in ranking.results[:k]])
    return _response(deps, query_id, user_id, ranking, list(shown.values()), k, "history_knn", personal)


def _bought(deps: ServiceDeps, user_id: str, history: list) -> set[str]:
    """Every item the user ever bought (older than the profile too); the profile's purchases when the store cannot
    say more."""
    try:
        return deps.profile_read(lambda store: store.purchased(user_id))
    except Exception as e:  # the profile was just read: its purchases are the next best answer
        log.warning("cannot read the purchases of %r: %s", user_id, e)
        return {h.item_id for h in history if h.type == "purchase"}


def _pool(deps: ServiceDeps, history: list, include_purchased: bool, bought: set[str]) -> Pool:
    """The user's candidate pool without ``bought``; without the model's own candidates when the model cannot give
    them (the k-NN and own items are still ranked)."""
    try:
        model = deps.get_ranker()
    except ComponentUnavailable:
        model = None
    args = dict(size=deps.settings.service.recommend_candidates, window=deps.settings.ranker.history_length,
                include_purchased=include_purchased, exclude=bought)  # fmt: skip
    if model is not None:
        try:
            learned = deps.learned_search(model)
            return candidate_pool(history, deps.index.get(), deps.vector_table(), model=model, learned=learned, **args)
        except Exception as e:  # broken model statistics must not cost the user their recommendations
            log.warning("no model candidates: %s", e)
    return candidate_pool(history, deps.index.get(), deps.vector_table(), model=None, **args)


def _response(deps: ServiceDeps, query_id: str | None, user_id: str, ranking: Ranking, hits: list[Hit], k: int,
              source: str, explain: bool) -> ItemsResponse:  # fmt: skip
    """The answer, recorded as a UBI query without query text (placed by the model, or by popularity)."""
    results = item_results(ranking, hits, k, explain)
    query_id = query_id or new_query_id()
    placed = [POPULARITY] * len(results) if source == "popularity" else placements(ranking, len(results))
    record_answer(deps, query_id=query_id, application="recommend", user_id=user_id, user_query=None,
                  ids=[r.id for r in results], placed=placed, ranking=ranking)  # fmt: skip
    return ItemsResponse(
        user_id=user_id,
        personalized=ranking.personalized,
        reason=ranking.reason,
        model_version=ranking.model_version,
        source=source,
        query_id=query_id,
        results=results,
    )
