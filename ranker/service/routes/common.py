"""Helpers the routers share: the app's container and metrics, limits, result assembly, and recording an answer
as a UBI query (:func:`record_answer`)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from core.errors import InputError
from indexer.search import Hit
from ranker.feedback import RETRIEVAL, Impression, Shown, shown
from ranker.service.deps import ServiceDeps
from ranker.service.metrics import ServiceMetrics
from ranker.service.ranking import Ranking
from ranker.service.schemas import ItemResult


def deps_of(request: Request) -> ServiceDeps:
    return request.app.state.deps


def metrics_of(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


def check_k(deps: ServiceDeps, k: int) -> None:
    """Refuse a result count over the configured maximum, naming the field."""
    limit = deps.settings.service.max_k
    if k > limit:
        raise InputError(f"at most {limit} results per request (RECSEARCH_SERVICE_MAX_K), got {k}", field="k")


def item_results(ranking: Ranking, hits: Sequence[Hit], k: int, explain: bool = True) -> list[ItemResult]:
    """The first ``k`` ranked results with the title, category and price their hit carried; with explanations
    (they name history items) only when ``explain``: the caller has the personal scope (``auth.may_see_history``)."""
    info = {h.id: h for h in hits}
    out = []
    for r in ranking.results[:k]:
        h = info.get(r.id)
        out.append(
            ItemResult(
                id=r.id,
                score=r.score,
                retrieval_score=r.retrieval_score,
                explanations=r.explanations if explain else [],
                title=h.title if h else "",
                category=h.category if h else "",
                price=h.price if h else None,
            )
        )
    return out


def placed_by(ranking: Ranking) -> str:
    """What placed the ranked results of ``ranking``: its model version when it was personalized, else retrieval."""
    return (ranking.model_version or "model") if ranking.personalized else RETRIEVAL


def placed_at(ranking: Ranking, place: int) -> str:
    """What placed the result at index ``place`` of ``ranking``: under an experiment the version of its team (or
    arm), else :func:`placed_by`."""
    return ranking.teams[place] if place < len(ranking.teams) else placed_by(ranking)


def placements(ranking: Ranking, count: int) -> list[str]:
    """What placed each of the first ``count`` results of ``ranking``."""
    return [placed_at(ranking, n) for n in range(count)]


def record_answer(
    deps: ServiceDeps,
    *,
    query_id: str,
    application: str,
    user_id: str | None,
    user_query: str | None,
    ids: Sequence[str],
    placed: Sequence[str],
    ranking: Ranking,
    offset: int = 0,
    positions: Sequence[int] | None = None,
) -> None:
    """Queue the answer's impression: ``ids`` in the order shown from position ``offset + 1``, each placed by
    ``placed``; or, with ``positions``, each id at its own place (0-based, in the whole ordering: a page whose
    places between the ids hold hits the service never saw). Never blocks and never fails the request (a full
    queue drops it, counted)."""
    if positions is None:
        hits = shown(ids, placed, offset)
    else:
        hits = tuple(Shown(i, p + 1, by) for i, p, by in zip(ids, positions, placed, strict=True))
    deps.record(
        Impression(
            query_id=query_id,
            application=application,
            client_id=user_id,
            user_query=user_query,
            hits=hits,
            model_version=ranking.model_version,
            personalized=ranking.personalized,
            reason=ranking.reason,
            experiment=ranking.experiment,
        )
    )
