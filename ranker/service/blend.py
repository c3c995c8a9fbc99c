"""The OpenSearch plugin's blend of the ranker's scores with OpenSearch's, computed by the service
(docs/plugin.md): when the plugin sends its ``blend_weight``, the service returns the order the shopper will see,
so the recorded impression and an experiment's interleaving are of that order, not of the ranker's alone.

    final = (1 - w) * minmax(OpenSearch score) + w * minmax(ranker score)        over the hits sent

This is ``HitWindow.reorder`` of the plugin (plugin/src/main/java/.../HitWindow.java), step by step in the same
double arithmetic: all-equal scores scale to 0, an id the ranker left out counts as its lowest score, and the sort is
stable (equal blended scores keep the order the hits were sent in). OpenSearch scores are float32 on the node, so
they are rounded to float32 here as the plugin reads them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from ranker.service.ranking import RankedItem, Ranking

#: A span at or below this carries no preference (the plugin's threshold).
MIN_SPAN = 1e-12


def minmax(values: Sequence[float]) -> list[float]:
    """Min-max scaling to [0, 1]; all-equal values (no span) scale to 0."""
    if not values:
        return []
    low, high = min(values), max(values)
    span = high - low
    if not span > MIN_SPAN:
        return [0.0] * len(values)
    return [(v - low) / span for v in values]


def blend(hits: Sequence[tuple[str, float]], results: Sequence[RankedItem], weight: float) -> list[RankedItem]:
    """``hits`` (id, OpenSearch score, in the order sent) in blended order, each with its blended score.

    ``results`` is the ranker's ordering (its scores); an id of ``hits`` it lacks counts as its lowest score and
    comes back as a result with that id, its retrieval score and no explanations."""
    ranker: dict[str, RankedItem] = {}
    for r in results:
        ranker.setdefault(r.id, r)
    finite = [r.score for r in results if math.isfinite(r.score)]
    lowest = min(finite) if finite else 0.0
    os_scores = [float(np.float32(s)) if math.isfinite(s) else 0.0 for _, s in hits]
    rk_scores = []
    for i, _ in hits:
        r = ranker.get(i)
        rk_scores.append(r.score if r is not None and math.isfinite(r.score) else lowest)
    os_norm, rk_norm = minmax(os_scores), minmax(rk_scores)
    blended = [(1.0 - weight) * o + weight * r for o, r in zip(os_norm, rk_norm, strict=True)]
    order = sorted(range(len(hits)), key=lambda k: -blended[k])  # sorted() is stable: ties keep the order sent
    out = []
    for k in order:
        i, s = hits[k]
        base = ranker.get(i) or RankedItem(i, lowest, float(s))
        out.append(dataclasses.replace(base, score=blended[k]))
    return out


def blended(ranking: Ranking, hits: Sequence[tuple[str, float]], weight: float) -> Ranking:
    """``ranking`` in the plugin's blended order; a ranking that is not personalized stays in the order sent (the
    plugin shows that order as it is)."""
    if not ranking.personalized:
        return ranking
    return dataclasses.replace(ranking, results=blend(hits, ranking.results, weight))
