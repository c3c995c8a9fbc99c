"""POST /v1/rerank: the endpoint the OpenSearch plugin calls with the hits of one search (docs/architecture.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from core.errors import InputError
from ranker.feedback import new_query_id
from ranker.service.auth import may_see_history, require
from ranker.service.blend import blended
from ranker.service.deps import ServiceDeps
from ranker.service.experiment import rank_for
from ranker.service.ranking import Ranking
from ranker.service.routes.common import deps_of, metrics_of, placements, record_answer
from ranker.service.schemas import PageIn, RerankRequest, RerankResponse, RerankResult

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
    page, weight = body.page, body.blend_weight
    if page is not None:
        _check_page(page, hits)
    # With the plugin's blend_weight the answer is the order the shopper sees: each version's order blended with
    # OpenSearch's scores (under interleaving, before the draft), so what is recorded is what is shown.
    show = None if weight is None else (lambda ranking: blended(ranking, hits, weight))
    # The plugin sends the hits of one search: their ids key the experiment's interleaving (same search, same list).
    ranking = rank_for(deps, body.user_id, hits, query="rerank:" + ",".join(i for i, _ in hits),
                       metrics=metrics_of(request), query_order=True, shown=show)  # fmt: skip
    explain = may_see_history(request)  # explanations name the user's history items: personal scope only
    query_id = body.query_id or new_query_id()
    _record(deps, body.user_id, query_id, ranking, page)
    out = RerankResponse(
        user_id=body.user_id,
        personalized=ranking.personalized,
        reason=ranking.reason,
        model_version=ranking.model_version,
        query_id=query_id,
        blended=weight is not None and ranking.personalized,
        results=[RerankResult(id=r.id, score=r.score, retrieval_score=r.retrieval_score,
                              explanations=r.explanations if explain else []) for r in ranking.results],
    )  # fmt: skip
    # Serialized here, once: FastAPI would otherwise validate the 100+ results again against response_model.
    return Response(out.model_dump_json(), media_type="application/json")


def _check_page(page: PageIn, hits: list[tuple[str, float]]) -> None:
    """One slot per hit, and one hit per id: the answer's results fill the slots in order."""
    if len(page.positions) != len(hits):
        raise InputError(
            f"needs one position per hit: {len(hits)} hits, {len(page.positions)} positions", field="page.positions"
        )
    if len({i for i, _ in hits}) != len(hits):
        raise InputError("with a page, every hit id must be sent once", field="hits")


def _record(deps: ServiceDeps, user_id: str | None, query_id: str, ranking: Ranking, page: PageIn | None) -> None:
    """Record the answer: with a page, exactly the results shown on it, at their places in the whole ordering
    (the results fill the page's slots in order); without one (an older plugin), every result in the answer's
    order from position 1."""
    ids = [r.id for r in ranking.results]
    placed = placements(ranking, len(ids))
    if page is None:
        record_answer(deps, query_id=query_id, application="rerank", user_id=user_id, user_query=None, ids=ids,
                      placed=placed, ranking=ranking)  # fmt: skip
        return
    end = page.from_ + page.size
    on_page = [n for n, p in enumerate(page.positions[: len(ids)]) if page.from_ <= p < end]
    record_answer(deps, query_id=query_id, application="rerank", user_id=user_id, user_query=None,
                  ids=[ids[n] for n in on_page], placed=[placed[n] for n in on_page],
                  positions=[page.positions[n] for n in on_page], ranking=ranking)  # fmt: skip
