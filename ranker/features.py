"""The scalar candidate features and the recency buckets, in numpy.

Training (:mod:`ranker.dataset`) and scoring (:mod:`ranker.scoring`) both call these functions, so the model
sees the same features in production as in training.

Features per (user, candidate), in this order (:data:`FEATURE_NAMES`):

- ``retrieval``: the retrieval score min-max scaled over the user's candidates (BM25, cosine and hybrid scores
  have different scales; the order and spread is what carries over);
- ``popularity``: log1p(target events of the item in the training period) / log1p(the largest count);
- ``price``: log1p(price) standardised over the training catalog; ``price_known``: 1 when the item has a price;
- ``repeat``: log1p(how often the candidate is in the user's history) — repeat purchases are ~30% of next
  purchases in Online Retail;
- ``has_history``: 1 when the user has any history the model can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURE_NAMES = ("retrieval", "popularity", "price", "price_known", "repeat", "has_history")


@dataclass
class ItemStats:
    """Per-item statistics learned at training time and shipped in the checkpoint (keyed by item id)."""

    counts: dict[str, float]
    price_mean: float = 0.0
    price_std: float = 1.0

    @classmethod
    def fit(cls, target_counts: dict[str, float], prices: np.ndarray) -> ItemStats:
        """Counts of target events per item, and the log-price normalisation over the catalog's known prices."""
        logp = np.log1p(prices[np.isfinite(prices) & (prices >= 0)])
        mean = float(logp.mean()) if len(logp) else 0.0
        std = float(logp.std()) if len(logp) > 1 else 1.0
        return cls(dict(target_counts), mean, std if std > 1e-6 else 1.0)

    def to_dict(self) -> dict:
        return {
            "ids": list(self.counts),
            "counts": [float(c) for c in self.counts.values()],
            "price_mean": self.price_mean,
            "price_std": self.price_std,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ItemStats:
        return cls(dict(zip(d["ids"], d["counts"], strict=True)), float(d["price_mean"]), float(d["price_std"]))

    def aligned(self, ids: list[str], prices: np.ndarray) -> AlignedStats:
        """The statistics as arrays aligned with an item table's rows (``ids``, ``prices`` from ItemVectors)."""
        top = max(self.counts.values(), default=0.0)
        counts = np.array([self.counts.get(i, 0.0) for i in ids], dtype=np.float64)
        popularity = np.log1p(counts) / np.log1p(top) if top > 0 else np.zeros(len(ids))
        known = np.isfinite(prices) & (prices >= 0)
        price = np.where(known, (np.log1p(np.where(known, prices, 0.0)) - self.price_mean) / self.price_std, 0.0)
        return AlignedStats(popularity.astype(np.float32), price.astype(np.float32), known.astype(np.float32))


@dataclass
class AlignedStats:
    """Item statistics as arrays over the rows of one item table; each has one extra zero row for unknown items."""

    popularity: np.ndarray  # (N,)
    price: np.ndarray  # (N,)
    price_known: np.ndarray  # (N,)

    def __post_init__(self) -> None:
        # Row -1 (an unknown item) reads this appended zero.
        self.popularity = np.append(self.popularity, 0.0).astype(np.float32)
        self.price = np.append(self.price, 0.0).astype(np.float32)
        self.price_known = np.append(self.price_known, 0.0).astype(np.float32)


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale each row of ``x`` (..., C) to [0, 1]; a constant row becomes all ones."""
    lo = x.min(axis=-1, keepdims=True)
    span = x.max(axis=-1, keepdims=True) - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 1.0).astype(np.float32)


def repeat_counts(cand_rows: np.ndarray, hist_rows: np.ndarray, hist_mask: np.ndarray) -> np.ndarray:
    """How often each candidate is in the history. cand_rows (B, C), hist_rows (B, H), hist_mask (B, H) -> (B, C)."""
    same = (cand_rows[:, :, None] == hist_rows[:, None, :]) & hist_mask[:, None, :] & (cand_rows[:, :, None] >= 0)
    return same.sum(axis=-1).astype(np.float32)


def candidate_features(
    retrieval: np.ndarray,
    cand_rows: np.ndarray,
    hist_rows: np.ndarray,
    hist_mask: np.ndarray,
    stats: AlignedStats,
) -> np.ndarray:
    """The (B, C, F) feature array. retrieval, cand_rows: (B, C) (row -1 = unknown item); hist_*: (B, H)."""
    repeat = np.log1p(repeat_counts(cand_rows, hist_rows, hist_mask))
    has_history = np.broadcast_to(hist_mask.any(axis=1, keepdims=True), cand_rows.shape)
    return np.stack(
        [
            minmax(retrieval.astype(np.float32)),
            stats.popularity[cand_rows],
            stats.price[cand_rows],
            stats.price_known[cand_rows],
            repeat,
            has_history.astype(np.float32),
        ],
        axis=-1,
    ).astype(np.float32)


def recency_buckets(age_days: np.ndarray, buckets: int) -> np.ndarray:
    """log2(1 + age in days), floored, clipped to [0, buckets - 1]; future events count as age 0."""
    age = np.maximum(np.asarray(age_days, dtype=np.float64), 0.0)
    return np.minimum(np.floor(np.log2(1.0 + age)), buckets - 1).astype(np.int64)
