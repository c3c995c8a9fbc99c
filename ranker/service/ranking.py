"""Personalized ordering of candidates for one user, with the graceful fallbacks of docs/architecture.md.

Whatever fails (no user, no history, profile store or model down) the caller still gets every candidate back,
in retrieval order with ``score = retrieval_score`` and a ``reason`` saying why; never an exception.

Items the catalog marks not recommendable (postage, fees) can be among the hits of a search (/v1/search,
/v1/rerank): a shop may want "postage" found by its name. Personalization does not move them: they keep the place
retrieval gave them and the products are ordered for the user around them (:func:`keep_in_place`), so a customer
who pays postage with every order does not see it pushed up in every search, and an exact search still finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.errors import ComponentUnavailable
from ranker.model import Candidate, Scored, fuse_with_query
from ranker.service.deadline import ProfileDeadline
from ranker.service.deps import ServiceDeps
from ranker.service.metrics import ServiceMetrics
from ranker.service.ports import Ranker

log = logging.getLogger("recsearch.service")


@dataclass
class RankedItem:
    """One candidate after ranking."""

    id: str
    score: float
    retrieval_score: float
    explanations: list[dict] = field(default_factory=list)


@dataclass
class Ranking:
    """The ordered candidates and whether (and why not) they were personalized."""

    results: list[RankedItem]
    personalized: bool
    reason: str | None
    model_version: str | None
    history_ids: list[str] = field(default_factory=list)
    #: The online experiment this ordering was served under (:mod:`ranker.service.experiment`), None outside one,
    #: and the version that placed each result (interleaving: each item's team; A/B: the arm's version).
    experiment: str | None = None
    teams: list[str] = field(default_factory=list)


def retrieval_order(
    hits: Sequence[tuple[str, float]], reason: str, history_ids: list[str] | None = None, limit: int | None = None
) -> Ranking:
    """The (first ``limit``) candidates as they came, marked as not personalized."""
    results = [RankedItem(i, s, s) for i, s in hits[:limit]]
    return Ranking(results, False, reason, None, history_ids or [])


@dataclass(frozen=True)
class NoHistory:
    """The profile store could not give the history: ``reason`` is ``profile_store_unavailable`` (it failed) or
    ``profile_store_timeout`` (no answer within ``RECSEARCH_SERVICE_PROFILE_DEADLINE_MS``)."""

    reason: str


def load_history(deps: ServiceDeps, user_id: str, metrics: ServiceMetrics | None = None) -> list | NoHistory:
    """The user's newest interactions (the whole profile: the model reads as much of it as it was trained with), or
    :class:`NoHistory` when the profile store cannot give them in time."""
    limit = deps.settings.events.history_length
    try:
        return list(deps.profile_read(lambda store: store.history(user_id, limit=limit)))
    except Exception as e:  # the store is an outside system: any failure degrades to retrieval order
        log.warning("profile store failed for user %r: %s", user_id, e)
        if metrics:
            metrics.component_errors.labels("profile_store").inc()
        timeout = isinstance(e, ProfileDeadline)
        return NoHistory("profile_store_timeout" if timeout else "profile_store_unavailable")


def empty_history_reason(deps: ServiceDeps, user_id: str) -> str:
    """``no_history`` for a user the store knows (events, none usable), else ``unknown_user``."""
    try:
        return "no_history" if deps.profile_read(lambda store: store.known(user_id)) else "unknown_user"
    except Exception:  # the store just answered history(); a failing extra check only loses the nuance
        return "unknown_user"


def rank(
    deps: ServiceDeps,
    user_id: str | None,
    hits: Sequence[tuple[str, float]],
    *,
    history: list | NoHistory | None = None,
    metrics: ServiceMetrics | None = None,
    limit: int | None = None,
    query_order: bool = False,
    ranker: Ranker | None = None,
) -> Ranking:
    """Order ``hits`` (id, retrieval score) for ``user_id``; ``history`` when the caller already read it; with
    ``ranker`` (an experiment's version) instead of the active one.

    ``limit``: only the first ``limit`` results are returned (all when None), and only theirs get titled
    explanations: all the hits are still scored. ``query_order``: the hits answer a query (a search, the hits the
    plugin sends, the items like one item), in its order; the user's order is fused with it
    (:func:`ranker.model.query_order.fuse_with_query`, ``RECSEARCH_SERVICE_SEARCH_PERSONAL_WEIGHT``), so
    personalization reorders what the query matched and never replaces it."""
    if not user_id:
        return _counted(retrieval_order(hits, "no_user", limit=limit), metrics)
    if history is None:
        history = load_history(deps, user_id, metrics)
    if isinstance(history, NoHistory):
        return _counted(retrieval_order(hits, history.reason, limit=limit), metrics)
    history_ids = [h.item_id for h in history]
    if not history:
        return _counted(retrieval_order(hits, empty_history_reason(deps, user_id), limit=limit), metrics)
    if not hits:
        return Ranking([], True, None, None, history_ids)
    try:
        ranker = ranker if ranker is not None else deps.get_ranker()
        scored = ranker.score(history, [Candidate(i, float(s)) for i, s in hits], now=deps.clock())
        if query_order:
            scored = fuse_with_query(scored, [i for i, _ in hits], deps.settings.service.search_personal_weight)
        scored = keep_in_place(scored, hits, deps.unrecommendable([i for i, _ in hits]))
        version = ranker.version or None
        # Inside the try: the scorer works out explanations when they are first read, here.
        results = _with_titles(deps, scored, limit)
    except (ComponentUnavailable, Exception) as e:  # model missing or failing: keep the retrieval order
        log.warning("ranker failed for user %r: %s", user_id, e)
        if metrics:
            metrics.component_errors.labels("model").inc()
        return _counted(retrieval_order(hits, "model_unavailable", history_ids, limit), metrics)
    if metrics:
        metrics.personalized.labels("true").inc()
    return Ranking(results, True, None, version, history_ids)


def keep_in_place(scored: list[Scored], hits: Sequence[tuple[str, float]], fixed: set[str]) -> list[Scored]:
    """``scored`` in the ranker's order, but with each ``fixed`` item at its position among ``hits`` (retrieval
    order): personalization reorders the other items around it. A fixed item gets the score of the result above it
    (the one below at the top), so the scores still never rise down the list, and no explanations (nothing of the
    user's moved it)."""
    if not fixed:
        return scored
    by_id = {s.id: s for s in scored}
    movable = [s for s in sorted(scored, key=lambda s: s.score, reverse=True) if s.id not in fixed]
    places = {p: i for p, (i, _) in enumerate(hits) if i in fixed}
    out: list[Scored] = []
    rest = iter(movable)
    for p in range(len(hits)):
        item = places.get(p)
        if item is None:
            out.extend(s for s in [next(rest, None)] if s is not None)
            continue
        retrieval = by_id[item].retrieval_score if item in by_id else float(hits[p][1])
        above = out[-1].score if out else (movable[0].score if movable else retrieval)
        out.append(Scored(item, above, retrieval))
    out.extend(rest)
    return out


def _with_titles(deps: ServiceDeps, scored: list, limit: int | None = None) -> list[RankedItem]:
    # Sorted (stable) before the cut: the ranker's results come sorted, a stand-in's may not.
    kept = sorted(scored, key=lambda s: s.score, reverse=True)[:limit]
    top = deps.settings.service.explanations
    # Explanations are read only for the results kept (the scorer builds them on first access).
    shown = [list(s.explanations)[:top] for s in kept]
    wanted = [e.item_id for explanations in shown for e in explanations]
    titles = deps.titles(list(dict.fromkeys(wanted))) if wanted else {}
    return [
        RankedItem(
            s.id,
            float(s.score),
            float(s.retrieval_score),
            [
                {"item_id": e.item_id, "title": titles.get(e.item_id, ""), "weight": float(e.weight), "type": e.type}
                for e in explanations
            ],
        )
        for s, explanations in zip(kept, shown, strict=True)
    ]


def _counted(ranking: Ranking, metrics: ServiceMetrics | None) -> Ranking:
    if metrics:
        metrics.personalized.labels("false").inc()
        metrics.fallbacks.labels(ranking.reason or "").inc()
    return ranking
