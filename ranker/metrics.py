"""Ranking metrics with binary relevance, one value per test case so that cases can be paired and bootstrapped.

Full ranking (a top-K list drawn from the whole catalog, relevant items = the case's targets):

* ``hr@K`` hit rate, 1 when any target is in the top K;  ``recall@K`` = hits / |targets|;
  ``precision@K`` = hits / K;  ``f1@K`` their harmonic mean;
* ``ndcg@K`` = DCG / ideal DCG, DCG = sum over hits at rank r (1-based) of 1 / log2(r + 1), ideal = the first
  min(|targets|, K) ranks all hits;
* ``mrr@K`` = 1 / rank of the first hit (0 when none in the top K);
* ``map@K`` = sum over hits at rank r of precision@r, divided by min(|targets|, K);
* ``coverage@K`` (a property of the whole run, not of a case) = distinct items in all top-K lists / catalog size.

Sampled negatives (the protocol many papers use): one target ranked among N sampled negatives; ``hr@K``,
``ndcg@K``, ``mrr`` of that single target. These numbers are only comparable with each other, never with full
ranking, so they are kept apart.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np


def case_metrics(ranked: Sequence[str], targets: Collection[str], ks: Sequence[int]) -> dict[str, float]:
    """Every full-ranking metric at every K for one ranked list and its set of relevant items."""
    relevant = set(targets)
    if not relevant:
        raise ValueError("a test case needs at least one target")
    hits = np.array([item in relevant for item in ranked[: max(ks)]], dtype=bool)
    gains = hits / np.log2(np.arange(2, len(hits) + 2))
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    out: dict[str, float] = {}
    for k in ks:
        h = hits[:k]
        n_hits = int(h.sum())
        ideal = float((1.0 / np.log2(np.arange(2, min(len(relevant), k) + 2))).sum())
        recall = n_hits / len(relevant)
        precision = n_hits / k
        first = int(np.argmax(h)) if n_hits else -1
        out[f"ndcg@{k}"] = float(gains[:k].sum()) / ideal
        out[f"recall@{k}"] = recall
        out[f"hr@{k}"] = 1.0 if n_hits else 0.0
        out[f"mrr@{k}"] = 1.0 / (first + 1) if n_hits else 0.0
        out[f"map@{k}"] = float(precision_at[:k][h].sum()) / min(len(relevant), k)
        out[f"precision@{k}"] = precision
        out[f"f1@{k}"] = 2 * precision * recall / (precision + recall) if n_hits else 0.0
    return out


def sampled_metrics(target_rank: int, ks: Sequence[int]) -> dict[str, float]:
    """Metrics of one target at 0-based ``target_rank`` among itself and its sampled negatives."""
    out = {}
    for k in ks:
        hit = target_rank < k
        out[f"ndcg@{k}"] = 1.0 / float(np.log2(target_rank + 2)) if hit else 0.0
        out[f"hr@{k}"] = 1.0 if hit else 0.0
    out["mrr"] = 1.0 / (target_rank + 1)
    return out


def rank_of_first(scores: np.ndarray) -> int:
    """0-based rank of ``scores[0]`` (the target) among all scores; ties count against the target, so a
    ranker that scores everything the same gets no credit."""
    scores = np.asarray(scores, dtype=np.float64)
    return int((scores[1:] >= scores[0]).sum())


def coverage(lists: Sequence[Sequence[str]], k: int, catalog_size: int) -> float:
    """Share of the catalog that appears in at least one top-``k`` list."""
    shown = {item for ranked in lists for item in ranked[:k]}
    return len(shown) / catalog_size if catalog_size else 0.0


def stack(per_case: Sequence[dict[str, float]]) -> dict[str, np.ndarray]:
    """Per-case metric dicts as one array per metric (cases in the same order)."""
    if not per_case:
        return {}
    return {name: np.array([m[name] for m in per_case], dtype=np.float64) for name in per_case[0]}


def means(columns: dict[str, np.ndarray]) -> dict[str, float]:
    """The mean of each metric over the cases."""
    return {name: float(values.mean()) for name, values in columns.items()}
