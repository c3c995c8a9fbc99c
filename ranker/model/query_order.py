"""Personalized search that keeps to the query: the user's order fused with the query's, never put in its place.

A search's hits come in the query's order (BM25, k-NN or both fused). Ranking them by the user's scores alone lets a
customer's taste outvote the query: a hundred k-NN hits for "red mug" hold mugs that are not red and red things that
are not mugs, and a customer who buys blue mugs gets blue mugs first. So a search result's place is the weighted
reciprocal rank fusion of its query rank and its personal rank::

    fused(item) = 1 / (c + query_rank) + weight / (c + personal_rank)

``weight`` 0 is the anonymous order; 1 gives the user as much say as the query. With the usual ``c`` of 60 an item
the user ranks first climbs at most a few places over the items that match the query better, so a top 10 keeps
what the query matched and the customer's pick of it comes first. `recadmin evaluate --attention` measures both
sides: query adherence (the top 10's share of items that contain the query's words, personalized / anonymous) and
whether the item the customer bought ranks higher personalized than anonymous.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ranker.model.explanations import Scored

#: Reciprocal rank fusion's usual constant (Cormack et al., 2009), as the hybrid search's.
RRF_K = 60


def fused_order(
    personal: Sequence[str], query: Sequence[str], weight: float, rrf_k: int = RRF_K
) -> list[tuple[str, float]]:
    """The items of ``personal`` (the user's order, best first) as (id, fused score), best first, fusing their
    ranks there with their ranks in ``query`` (the query's order); an item missing from ``query`` ranks after every
    query hit. Ties go to the user's order."""
    query_rank = {item: n for n, item in enumerate(query, start=1)}
    last = len(query) + 1
    fused = [
        (1.0 / (rrf_k + query_rank.get(item, last)) + weight / (rrf_k + n), -n, item)
        for n, item in enumerate(personal, start=1)
    ]
    fused.sort(reverse=True)
    return [(item, score) for score, _, item in fused]


def fused_scores(first: np.ndarray, second: np.ndarray, weight: float, rrf_k: int = RRF_K) -> np.ndarray:
    """Each item's weighted reciprocal rank fusion of its rank by ``first`` and by ``second`` (scores of the same
    items, higher is better): ``1 / (c + rank by first) + weight / (c + rank by second)``; ties in a ranking keep
    the items' order."""
    fused = np.empty(len(first), dtype=np.float64)
    ranks = np.arange(1, len(first) + 1, dtype=np.float64)
    fused[np.argsort(-first, kind="stable")] = 1.0 / (rrf_k + ranks)
    fused[np.argsort(-second, kind="stable")] += weight / (rrf_k + ranks)
    return fused


def fuse_with_query(
    scored: Sequence[Scored], query_order: Sequence[str], weight: float, rrf_k: int = RRF_K
) -> list[Scored]:
    """``scored`` (the ranker's results) in the fused order of their query ranks (``query_order``, best first) and
    their ranks by the ranker's score; each result's ``score`` becomes its fused score."""
    by_id = {s.id: s for s in scored}
    personal = [s.id for s in sorted(scored, key=lambda s: s.score, reverse=True)]
    out = []
    for item, score in fused_order(personal, query_order, weight, rrf_k):
        by_id[item].score = score
        out.append(by_id[item])
    return out
