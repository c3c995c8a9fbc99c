"""Validation of a ranker during training: rank each held-out next item among sampled negatives.

Each validation example gets the true next item plus ``negatives`` items drawn uniformly from the catalog (fixed by
the seed, so every epoch and every baseline sees the same candidates). Metrics: HR@10, NDCG@10 and MRR of the
true item. Baselines on the same candidates: random order, popularity, and "bought before, then popularity".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ranker.dataset import Batch, NextItemData, make_batch
from ranker.features import FEATURE_NAMES, AlignedStats
from ranker.model import RankerConfig

_REPEAT = FEATURE_NAMES.index("repeat")


def sample_negatives(rng: np.random.Generator, n_items: int, positives: np.ndarray, k: int) -> np.ndarray:
    """(B, k) item rows drawn uniformly, redrawn where they hit the row's positive (catalogs of >1 item)."""
    neg = rng.integers(0, n_items, size=(len(positives), k))
    if n_items > 1:
        for _ in range(10):
            hit = neg == positives[:, None]
            if not hit.any():
                break
            neg[hit] = rng.integers(0, n_items, size=int(hit.sum()))
    return neg


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
        history_length: int,
        *,
        negatives: int = 99,
        max_examples: int = 3000,
        batch_size: int = 256,
        seed: int = 0,
    ):
        rng = np.random.default_rng(seed + 1)
        ex = data.validation_index
        if len(ex) > max_examples:
            ex = np.sort(rng.choice(ex, size=max_examples, replace=False))
        self.examples = len(ex)
        self.batches: list[Batch] = []
        for start in range(0, len(ex), batch_size):
            part = ex[start : start + batch_size]
            neg = sample_negatives(rng, len(vectors), data.target[part], negatives)
            self.batches.append(make_batch(data, part, vectors, stats, config, history_length, neg))
        self._stats = stats
        self._seed = seed

    def evaluate(self, score_fn: Callable[[Batch], np.ndarray]) -> dict[str, float]:
        """Metrics of ``score_fn`` (Batch -> (B, C) scores) over every validation example."""
        if not self.batches:
            return {}
        return rank_metrics(np.concatenate([score_fn(b) for b in self.batches]))

    def baselines(self) -> dict[str, float]:
        """Random, popularity and repeat-then-popularity on the same candidates, prefixed by their name."""
        rng = np.random.default_rng(self._seed + 2)
        out: dict[str, float] = {}
        fns: dict[str, Callable[[Batch], np.ndarray]] = {
            "random": lambda b: rng.random(b.cand_rows.shape),
            "popularity": lambda b: self._stats.popularity[b.cand_rows],
            # log1p(times in history) first: bought-before items first, popular first among them.
            "repeat_popularity": lambda b: b.features[..., _REPEAT] * 10.0 + self._stats.popularity[b.cand_rows],
        }
        for name, fn in fns.items():
            out.update({f"{name}_{k}": v for k, v in self.evaluate(fn).items()})
        return out
