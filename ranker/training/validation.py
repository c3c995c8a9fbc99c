"""Validation of a ranker during training: rank each held-out next item among sampled negatives.

Each validation example gets the true next item plus ``negatives`` items: ``hard`` of them the user's own past
items and co-occurrence neighbours (what a reranker has to order in production), the rest drawn uniformly from the
catalog; fixed by the seed, so every epoch and every baseline sees the same candidates (items bought in the same
basket are not negatives: they are left out). Metrics: HR@10, NDCG@10 and MRR of the true item. Baselines on the
same candidates: random order, popularity, and "bought before, then popularity".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ranker.model import AlignedStats, RankerConfig
from ranker.training.examples import Batch, NextItemData, SequenceScores, make_batch
from ranker.training.negatives import sample_hard, sample_negatives


def repeated(rows: np.ndarray) -> np.ndarray:
    """(B, C) bool: the item of ``rows[b, c]`` is already in an earlier column of row b."""
    order = np.argsort(rows, axis=1, kind="stable")
    sorted_rows = np.take_along_axis(rows, order, axis=1)
    dup_sorted = np.zeros(rows.shape, dtype=bool)
    dup_sorted[:, 1:] = sorted_rows[:, 1:] == sorted_rows[:, :-1]
    out = np.zeros(rows.shape, dtype=bool)
    np.put_along_axis(out, order, dup_sorted, axis=1)
    return out


def rank_metrics(scores: np.ndarray, k: int = 10) -> dict[str, float]:
    """HR@k, NDCG@k and MRR when column 0 of (B, C) ``scores`` is the true item (ties count against it)."""
    rank = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)  # 0 = first
    hit = rank < k
    return {
        f"hr@{k}": float(hit.mean()),
        f"ndcg@{k}": float(np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0).mean()),
        "mrr": float((1.0 / (rank + 1.0)).mean()),
    }


class Validator:
    """Fixed validation batches and the metrics of a scoring function on them."""

    def __init__(
        self,
        data: NextItemData,
        vectors: np.ndarray,
        stats: AlignedStats,
        config: RankerConfig,
        *,
        negatives: int = 99,
        hard: int = 40,
        max_examples: int = 3000,
        batch_size: int = 256,
        seed: int = 0,
        sequence: SequenceScores | None = None,
    ):
        rng = np.random.default_rng(seed + 1)
        ex = data.validation_index
        if len(ex) > max_examples:
            ex = np.sort(rng.choice(ex, size=max_examples, replace=False))
        self.examples = len(ex)
        self.batches: list[Batch] = []
        for start in range(0, len(ex), batch_size):
            part = ex[start : start + batch_size]
            neg = np.concatenate([
                sample_hard(rng, data, part, stats.cooc, min(hard, negatives), config.feature_history),
                sample_negatives(rng, len(vectors), data.target[part], negatives - min(hard, negatives)),
            ], axis=1)  # fmt: skip
            batch = make_batch(data, part, vectors, stats, config, neg, sequence=sequence)
            batch.valid &= ~repeated(batch.cand_rows)  # each item counts once in a ranking
            self.batches.append(batch)
        self._stats = stats
        self._seed = seed
        self._repeat = config.features.index("repeat")

    def evaluate(self, score_fn: Callable[[Batch], np.ndarray]) -> dict[str, float]:
        """Metrics of ``score_fn`` (Batch -> (B, C) scores) over every validation example."""
        if not self.batches:
            return {}
        return rank_metrics(np.concatenate([np.where(b.valid, score_fn(b), -np.inf) for b in self.batches]))

    def baselines(self) -> dict[str, float]:
        """Random, popularity and repeat-then-popularity on the same candidates, prefixed by their name."""
        rng = np.random.default_rng(self._seed + 2)
        out: dict[str, float] = {}
        fns: dict[str, Callable[[Batch], np.ndarray]] = {
            "random": lambda b: rng.random(b.cand_rows.shape),
            "popularity": lambda b: self._stats.popularity[b.cand_rows],
            # log1p(times in history) first: bought-before items first, popular first among them.
            "repeat_popularity": lambda b: b.features[..., self._repeat] * 10.0 + self._stats.popularity[b.cand_rows],
        }
        for name, fn in fns.items():
            out.update({f"{name}_{k}": v for k, v in self.evaluate(fn).items()})
        return out
