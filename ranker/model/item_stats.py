"""Per-item statistics a trained ranker ships in its checkpoint (popularity, prices, co-purchases, repeat rates,
what sells now), and the same statistics as arrays aligned with an item table for scoring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from ranker.model.cooccurrence import CoOccurrence, dense_table

#: The trend feature counts target events in this many days before the moment of ranking.
TREND_DAYS = 14.0


@dataclass
class ItemStats:
    """Per-item statistics learned at training time and shipped in the checkpoint (keyed by item id)."""

    counts: dict[str, float]
    price_mean: float = 0.0
    price_std: float = 1.0
    cooc: CoOccurrence = field(default_factory=CoOccurrence.empty)
    repeat_rate: dict[str, float] = field(default_factory=dict)
    #: The rate of an item without buyers in the training period (the shop's share of repeat buyers).
    repeat_prior: float = 0.0
    #: Target events per item in the last TREND_DAYS of the training data, and the scale of the trend feature.
    trend: dict[str, float] = field(default_factory=dict)
    trend_scale: float = 1.0

    @classmethod
    def fit(
        cls,
        target_counts: dict[str, float],
        prices: np.ndarray,
        cooc: CoOccurrence | None = None,
        repeat_rate: tuple[dict[str, float], float] | None = None,
        trend: tuple[dict[str, float], float] | None = None,
    ) -> ItemStats:
        """Counts of target events per item, the log-price normalisation over the catalog's known prices, the
        co-occurrence table, the items' repeat rates with their prior (:func:`repeat_rates`), and the latest
        trend counts with the feature's scale (``ranker.training.examples.NextItemData.trend``)."""
        logp = np.log1p(prices[np.isfinite(prices) & (prices >= 0)])
        mean = float(logp.mean()) if len(logp) else 0.0
        std = float(logp.std()) if len(logp) > 1 else 1.0
        rates, prior = repeat_rate or ({}, 0.0)
        trend_counts, scale = trend or ({}, 1.0)
        return cls(dict(target_counts), mean, std if std > 1e-6 else 1.0, cooc or CoOccurrence.empty(), rates, prior,
                   dict(trend_counts), scale)  # fmt: skip

    def to_dict(self) -> dict:
        return {
            "ids": list(self.counts),
            "counts": [float(c) for c in self.counts.values()],
            "price_mean": self.price_mean,
            "price_std": self.price_std,
            "cooc": self.cooc.to_dict(),
            "repeat_rate": {"ids": list(self.repeat_rate), "rates": [float(r) for r in self.repeat_rate.values()],
                            "prior": float(self.repeat_prior)},
            "trend": {"ids": list(self.trend), "counts": [float(c) for c in self.trend.values()],
                      "scale": float(self.trend_scale)},
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> ItemStats:
        return cls(
            dict(zip(d["ids"], d["counts"], strict=True)),
            float(d["price_mean"]),
            float(d["price_std"]),
            CoOccurrence.from_dict(d.get("cooc")),
            dict(zip((r := d.get("repeat_rate") or {}).get("ids", []), r.get("rates", []), strict=True)),
            float(r.get("prior", 0.0)),
            dict(zip((t := d.get("trend") or {}).get("ids", []), t.get("counts", []), strict=True)),
            float(t.get("scale", 1.0)),
        )

    def aligned(self, ids: Sequence[str], prices: np.ndarray) -> AlignedStats:
        """The statistics as arrays aligned with an item table's rows (``ids``, ``prices`` from ItemVectors)."""
        top = max(self.counts.values(), default=0.0)
        counts = np.array([self.counts.get(i, 0.0) for i in ids], dtype=np.float64)
        popularity = np.log1p(counts) / np.log1p(top) if top > 0 else np.zeros(len(ids))
        known = np.isfinite(prices) & (prices >= 0)
        price = np.where(known, (np.log1p(np.where(known, prices, 0.0)) - self.price_mean) / self.price_std, 0.0)
        rates = np.array([self.repeat_rate.get(i, self.repeat_prior) for i in ids], dtype=np.float32)
        trend = np.array([self.trend.get(i, 0.0) for i in ids], dtype=np.float32)
        return AlignedStats(
            popularity.astype(np.float32), price.astype(np.float32), known.astype(np.float32), self.cooc.aligned(ids),
            rates, trend, self.trend_scale,
        )  # fmt: skip


@dataclass
class AlignedStats:
    """Item statistics as arrays over the rows of one item table; each has one extra zero row for unknown items."""

    popularity: np.ndarray  # (N,)
    price: np.ndarray  # (N,)
    price_known: np.ndarray  # (N,)
    cooc: sparse.csr_matrix  # (N + 1, N + 1): pair counts between table rows (ranker.model.cooccurrence)
    repeat_rate: np.ndarray  # (N,)
    trend: np.ndarray  # (N,) target events in the training data's last TREND_DAYS
    trend_scale: float = 1.0

    def __post_init__(self) -> None:
        # Row -1 (an unknown item) reads this appended zero.
        self.repeat_rate = np.append(self.repeat_rate, 0.0).astype(np.float32)
        self.trend = np.append(self.trend, 0.0).astype(np.float32)
        #: The counts as a dense float16 table too when it is small (3.9k items: 30 MB): a request then gathers its
        #: (history x candidates) block directly, several times faster than walking the sparse rows.
        self.cooc_dense = dense_table(self.cooc)
        self.popularity = np.append(self.popularity, 0.0).astype(np.float32)
        self.price = np.append(self.price, 0.0).astype(np.float32)
        self.price_known = np.append(self.price_known, 0.0).astype(np.float32)


def repeat_rates(users: np.ndarray, baskets: np.ndarray, items: np.ndarray, strength: float = 5.0):
    """({item id: share of its buyers who bought it in two or more baskets}, the shop's share), each item's rate
    smoothed towards the shop's with ``strength`` pseudo-buyers. One entry per event in the three arrays."""
    import pandas as pd

    if len(items) == 0:
        return {}, 0.0
    frame = pd.DataFrame({"u": users, "b": baskets, "i": items}).drop_duplicates()
    per_buyer = frame.groupby(["i", "u"], sort=False).size()
    again = (per_buyer >= 2).groupby(level=0).agg(["sum", "size"])
    prior = float(again["sum"].sum() / max(again["size"].sum(), 1))
    rates = (again["sum"] + strength * prior) / (again["size"] + strength)
    return {str(i): float(r) for i, r in rates.items()}, prior
