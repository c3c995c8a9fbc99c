"""The scalar candidate features and the recency buckets, in numpy.

Training (:mod:`ranker.training.examples`) and scoring (:mod:`ranker.model.scoring`) both call these functions, so the model
sees the same features in production as in training.

Features per (user, candidate), in this order (:data:`FEATURE_NAMES`):

- ``retrieval``: the retrieval score min-max scaled over the user's candidates (BM25, cosine and hybrid scores
  have different scales; the order and spread is what carries over);
- ``popularity``: log1p(target events of the item in the training period) / log1p(the largest count);
- ``price``: log1p(price) standardised over the training catalog; ``price_known``: 1 when the item has a price;
- ``repeat``: log1p(how often the candidate is in the user's history) — repeat purchases are ~30% of next
  purchases in Online Retail;
- ``has_history``: 1 when the user has any history the model can see;
- ``repeat_recent``: log1p(the candidate's history occurrences, each weighted 0.5^(age / 30 days)): bought
  again soon after or long ago;
- ``last_seen``: 1 / (1 + log2(1 + days since the user last had the candidate)), 0 when never;
- ``cooc``: log1p(sum over the user's history of how many training baskets hold both that item and the
  candidate) — "bought together" (:class:`CoOccurrence`), the strongest signal for items not bought before;
- ``cooc_recent``: the same with each history item weighted 0.5^(age / 7 days): what goes with the latest baskets;
- ``item_repeat_rate``: the share of the item's buyers who bought it again in another basket (smoothed towards the
  shop's share): consumables are bought again, a doormat rarely;
- ``user_repeat_share``: the share of the user's history events that repeat an item of that history;
- ``repeat_due``: for an item the user bought more than once, how close the time since the last purchase is to the
  user's usual gap between purchases of it: exp(-|log(since last / mean gap)|), 1 when it is due now; 0 otherwise;
- ``trend``: log1p(the item's target events in the ``TREND_DAYS`` before the moment of ranking), scaled by the
  largest such count when the model was trained: what sells now (seasonal items, new arrivals) as against
  ``popularity`` over the whole period. Training counts them before each example's basket; a checkpoint carries
  the counts of its data's last ``TREND_DAYS`` for serving (retrain to refresh them).

The repeat and co-occurrence features read the user's longer history (``RankerConfig.feature_history`` newest
events), attention the newest ``history_length``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from core.errors import ModelError
from ranker.model.cooccurrence import CoOccurrence, dense_table, history_sums

FEATURE_NAMES = (
    "retrieval", "popularity", "price", "price_known", "repeat", "has_history",
    "repeat_recent", "last_seen", "cooc", "cooc_recent", "item_repeat_rate", "user_repeat_share", "trend",
    "repeat_due",
)  # fmt: skip
TREND_DAYS = 14.0
REPEAT_HALF_LIFE_DAYS = 30.0
COOC_HALF_LIFE_DAYS = 7.0


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

    def aligned(self, ids: list[str], prices: np.ndarray) -> AlignedStats:
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


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale each row of ``x`` (..., C) to [0, 1]; a constant row becomes all ones."""
    lo = x.min(axis=-1, keepdims=True)
    span = x.max(axis=-1, keepdims=True) - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 1.0).astype(np.float32)


def decay(age_days: np.ndarray, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life); future events count as age 0."""
    return np.exp2(-np.maximum(age_days, 0.0) / half_life_days).astype(np.float32)


def candidate_features(
    retrieval: np.ndarray,
    cand_rows: np.ndarray,
    hist_rows: np.ndarray,
    hist_mask: np.ndarray,
    stats: AlignedStats,
    age_days: np.ndarray | None = None,
    names: tuple[str, ...] = FEATURE_NAMES,
    *,
    leave_out: tuple[np.ndarray, np.ndarray] | None = None,
    trend_counts: np.ndarray | None = None,
) -> np.ndarray:
    """The (B, C, F) feature array, F = ``names`` (a checkpoint's own feature list, in its order).

    retrieval, cand_rows: (B, C) (row -1 = unknown item); hist_rows, hist_mask, age_days: (B, H) over the
    user's feature history, newest or oldest first (order does not matter); age_days None = all of age 0.
    ``leave_out`` = (candidate in basket (B, C), history item in basket (B, H)): one basket's own pairs to take
    out of the co-occurrence counts (training examples whose target basket the counts include). ``trend_counts``
    (B, C): each candidate's trend count at the example's time (training); None reads the checkpoint's latest.
    """
    if age_days is None:
        age_days = np.zeros(hist_rows.shape)
    past: PastStats | None = None
    columns = {}
    for name in names:
        if name in ("repeat", "repeat_recent", "last_seen", "repeat_due") and past is None:
            past = past_stats(cand_rows, hist_rows, hist_mask, age_days)
        if name == "retrieval":
            col = minmax(retrieval.astype(np.float32))
        elif name == "popularity":
            col = stats.popularity[cand_rows]
        elif name == "price":
            col = stats.price[cand_rows]
        elif name == "price_known":
            col = stats.price_known[cand_rows]
        elif name == "repeat":
            col = np.log1p(past.count)
        elif name == "has_history":
            col = np.broadcast_to(hist_mask.any(axis=1, keepdims=True), cand_rows.shape).astype(np.float32)
        elif name == "repeat_recent":
            col = np.log1p(past.decayed)
        elif name == "last_seen":
            col = np.where(past.count > 0, 1.0 / (1.0 + np.log2(1.0 + past.last_age)), 0.0)
        elif name == "trend":
            counts = stats.trend[cand_rows] if trend_counts is None else trend_counts
            col = np.log1p(counts) / max(stats.trend_scale, 1e-6)
        elif name == "repeat_due":
            col = repeat_due(past)
        elif name == "item_repeat_rate":
            col = stats.repeat_rate[cand_rows]
        elif name == "user_repeat_share":
            col = np.broadcast_to(repeat_share(hist_rows, hist_mask)[:, None], cand_rows.shape)
        elif name in ("cooc", "cooc_recent"):
            col = columns.get(name)
            if col is None:
                columns.update(_cooc_columns(cand_rows, hist_rows, hist_mask, age_days, stats, leave_out))
                col = columns[name]
        else:
            raise ModelError(f"the ranker asks for feature {name!r}, which this version does not compute")
        columns[name] = col
    return np.stack([columns[n] for n in names], axis=-1).astype(np.float32)


@dataclass
class PastStats:
    """Per (user, candidate), from the user's history events of that item: how many, their weights 0.5^(age / 30
    days) summed, and the ages (days) of the newest and the oldest (0 when there is none). Each (B, C)."""

    count: np.ndarray
    decayed: np.ndarray
    last_age: np.ndarray
    first_age: np.ndarray


def past_stats(cand_rows: np.ndarray, hist_rows: np.ndarray, hist_mask: np.ndarray, age_days: np.ndarray):
    """:class:`PastStats` by grouping the history by (user, item) once and looking the candidates up: cheaper
    than comparing every candidate with every history event."""
    b = len(cand_rows)
    zeros = np.zeros(cand_rows.shape, dtype=np.float32)
    if not hist_mask.any():
        return PastStats(zeros, zeros, zeros, zeros)
    span = int(max(cand_rows.max(initial=0), hist_rows.max(initial=0))) + 2
    keys = (np.arange(b)[:, None] * span + hist_rows)[hist_mask]
    ages = np.maximum(age_days, 0.0)[hist_mask]
    order = np.argsort(keys, kind="stable")
    keys, ages = keys[order], ages[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    uniq = keys[starts]
    count = np.diff(np.r_[starts, len(keys)]).astype(np.float32)
    decayed = np.add.reduceat(decay(ages, REPEAT_HALF_LIFE_DAYS), starts)
    last, first = np.minimum.reduceat(ages, starts), np.maximum.reduceat(ages, starts)
    wanted = np.arange(b)[:, None] * span + cand_rows
    pos = np.minimum(np.searchsorted(uniq, wanted), len(uniq) - 1)
    found = (uniq[pos] == wanted) & (cand_rows >= 0)

    def pick(values: np.ndarray) -> np.ndarray:
        return np.where(found, values[pos], 0.0).astype(np.float32)

    return PastStats(pick(count), pick(decayed), pick(last), pick(first))


def repeat_due(past: PastStats) -> np.ndarray:
    """(B, C): exp(-|log(days since the last purchase / mean days between purchases)|) for candidates bought at
    least twice (more than half a day apart on average); 0 otherwise."""
    n = past.count
    gap = np.where(n > 1, (past.first_age - past.last_age) / np.maximum(n - 1, 1), 0.0)
    ok = (n > 1) & (gap > 0.5)
    ratio = np.where(ok, (past.last_age + 0.5) / np.where(ok, gap, 1.0), 1.0)
    return np.where(ok, np.exp(-np.abs(np.log(ratio))), 0.0).astype(np.float32)


def repeat_share(hist_rows: np.ndarray, hist_mask: np.ndarray) -> np.ndarray:
    """(B,): 1 - distinct items / events over each user's history (0 without history)."""
    rows = np.sort(np.where(hist_mask, hist_rows, -2), axis=1)  # padding sorts first as -2
    n = hist_mask.sum(axis=1)
    distinct = ((rows[:, 1:] != rows[:, :-1]) & (rows[:, 1:] != -2)).sum(axis=1) + (rows[:, :1] != -2).sum(axis=1)
    return np.where(n > 0, 1.0 - distinct / np.maximum(n, 1), 0.0).astype(np.float32)


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


def _cooc_columns(cand_rows, hist_rows, hist_mask, age_days, stats: AlignedStats, leave_out) -> dict[str, np.ndarray]:
    """Both co-occurrence features with one sparse product: weights [all history | recent history]."""
    mask = hist_mask.astype(np.float32)
    recent = decay(age_days, COOC_HALF_LIFE_DAYS) * mask
    sums = history_sums(stats.cooc, hist_rows, np.stack([mask, recent]), cand_rows, stats.cooc_dense)  # (2, B, C)
    if leave_out is not None:
        # The basket added one to each (history item, candidate) pair it holds, the candidate itself excepted.
        cand_in, hist_in = leave_out
        own = cand_in[:, :, None] & hist_in[:, None, :] & (cand_rows[:, :, None] != hist_rows[:, None, :])
        own = own.astype(np.float32)
        sums[0] -= np.einsum("bch,bh->bc", own, mask)
        sums[1] -= np.einsum("bch,bh->bc", own, recent)
        np.maximum(sums, 0.0, out=sums)
    return {"cooc": np.log1p(sums[0]), "cooc_recent": np.log1p(sums[1])}


def recency_buckets(age_days: np.ndarray, buckets: int) -> np.ndarray:
    """log2(1 + age in days), floored, clipped to [0, buckets - 1]; future events count as age 0."""
    age = np.maximum(np.asarray(age_days, dtype=np.float64), 0.0)
    return np.minimum(np.floor(np.log2(1.0 + age)), buckets - 1).astype(np.int64)
