"""The scalar candidate features and the recency buckets, in numpy.

Training (:mod:`ranker.training.examples`) and scoring (:mod:`ranker.model.scoring`) both call these functions, so
the model
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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import ModelError
from ranker.model.cooccurrence import history_sums
from ranker.model.item_stats import AlignedStats

FEATURE_NAMES = (
    "retrieval", "popularity", "price", "price_known", "repeat", "has_history",
    "repeat_recent", "last_seen", "cooc", "cooc_recent", "item_repeat_rate", "user_repeat_share", "trend",
    "repeat_due",
)  # fmt: skip
REPEAT_HALF_LIFE_DAYS = 30.0
COOC_HALF_LIFE_DAYS = 7.0


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale each row of ``x`` (..., C) to [0, 1]; a constant row becomes all ones."""
    lo = x.min(axis=-1, keepdims=True)
    span = x.max(axis=-1, keepdims=True) - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 1.0).astype(np.float32)


def decay(age_days: np.ndarray, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life); future events count as age 0."""
    return np.exp2(-np.maximum(age_days, 0.0) / half_life_days).astype(np.float32)


@dataclass
class FeatureInputs:
    """What the features of one batch read (see :func:`candidate_features`), and the intermediate results several
    features share, computed once on first use."""

    retrieval: np.ndarray  # (B, C)
    cand_rows: np.ndarray  # (B, C), row -1 = unknown item
    hist_rows: np.ndarray  # (B, H)
    hist_mask: np.ndarray  # (B, H) bool
    age_days: np.ndarray  # (B, H)
    stats: AlignedStats
    leave_out: tuple[np.ndarray, np.ndarray] | None = None
    trend_counts: np.ndarray | None = None
    sequence_scores: np.ndarray | None = None  # (B, C) the sequence model's scores, None without one
    groups: HistoryGroups | None = None  # the history's group_history when the caller keeps it (serving)
    cooc_sums: np.ndarray | None = None  # (2, B, C) the co-occurrence sums (all, recent) when the caller has them
    _past: PastStats | None = None
    _cooc: dict[str, np.ndarray] | None = None

    @property
    def past(self) -> PastStats:
        if self._past is None:
            groups = self.groups if self.groups is not None else group_history(self.hist_rows, self.hist_mask)
            self._past = past_from_groups(groups, self.cand_rows, self.age_days)
        return self._past

    def cooc(self, name: str) -> np.ndarray:
        if self._cooc is None and self.cooc_sums is not None:
            self._cooc = {"cooc": np.log1p(self.cooc_sums[0]), "cooc_recent": np.log1p(self.cooc_sums[1])}
        if self._cooc is None:
            self._cooc = _cooc_columns(self.cand_rows, self.hist_rows, self.hist_mask, self.age_days, self.stats,
                                       self.leave_out)  # fmt: skip
        return self._cooc[name]

    def per_user(self, values: np.ndarray) -> np.ndarray:
        """(B,) values as a (B, 1) column: spread over each user's candidates by broadcasting."""
        return values[:, None].astype(np.float32)


def _trend(x: FeatureInputs) -> np.ndarray:
    counts = x.stats.trend[x.cand_rows] if x.trend_counts is None else x.trend_counts
    return np.log1p(counts) / max(x.stats.trend_scale, 1e-6)


#: Every feature by name: (B, C) column from the batch's inputs. A checkpoint lists the names it was trained with,
#: in its input order; a new feature is one entry here (and in FEATURE_NAMES for new models).
FEATURES: dict[str, Callable[[FeatureInputs], np.ndarray]] = {
    "retrieval": lambda x: minmax(x.retrieval.astype(np.float32)),
    "popularity": lambda x: x.stats.popularity[x.cand_rows],
    "price": lambda x: x.stats.price[x.cand_rows],
    "price_known": lambda x: x.stats.price_known[x.cand_rows],
    "repeat": lambda x: np.log1p(x.past.count),
    "has_history": lambda x: x.per_user(x.hist_mask.any(axis=1)),
    "repeat_recent": lambda x: np.log1p(x.past.decayed),
    "last_seen": lambda x: np.where(x.past.count > 0, 1.0 / (1.0 + np.log2(1.0 + x.past.last_age)), 0.0),
    "cooc": lambda x: x.cooc("cooc"),
    "cooc_recent": lambda x: x.cooc("cooc_recent"),
    "item_repeat_rate": lambda x: x.stats.repeat_rate[x.cand_rows],
    "user_repeat_share": lambda x: x.per_user(repeat_share(x.hist_rows, x.hist_mask)),
    "trend": _trend,
    "repeat_due": lambda x: repeat_due(x.past),
    # The sequence model's score, scaled per user as the retrieval score is; 0 for a version without that model.
    "sequence": lambda x: (
        minmax(x.sequence_scores.astype(np.float32)) if x.sequence_scores is not None else np.zeros(x.cand_rows.shape)
    ),
}
#: The features that read only the candidate's own row of the item statistics: serving computes them for every item
#: once per model and looks its candidates up (:class:`ranker.model.feature_plan.FeaturePlan`).
ITEM_FEATURES = frozenset({"popularity", "price", "price_known", "item_repeat_rate", "trend"})
#: The features with one value per user, the same for each candidate: serving computes them once per history.
USER_FEATURES = frozenset({"has_history", "user_repeat_share"})


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
    sequence_scores: np.ndarray | None = None,
) -> np.ndarray:
    """The (B, C, F) feature array, F = ``names`` (a checkpoint's own feature list, in its order).

    retrieval, cand_rows: (B, C) (row -1 = unknown item); hist_rows, hist_mask, age_days: (B, H) over the
    user's feature history, newest or oldest first (order does not matter); age_days None = all of age 0.
    ``leave_out`` = (candidate in basket (B, C), history item in basket (B, H)): one basket's own pairs to take
    out of the co-occurrence counts (training examples whose target basket the counts include). ``trend_counts``
    (B, C): each candidate's trend count at the example's time (training); None reads the checkpoint's latest.
    ``sequence_scores`` (B, C): the sequence model's score of each candidate for its user.
    """
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ModelError(f"the ranker asks for feature {unknown[0]!r}, which this version does not compute")
    x = FeatureInputs(retrieval, cand_rows, hist_rows, hist_mask, np.zeros(hist_rows.shape) if age_days is None
                      else age_days, stats, leave_out, trend_counts, sequence_scores)  # fmt: skip
    out = np.empty((*cand_rows.shape, len(names)), dtype=np.float32)
    for j, n in enumerate(names):
        out[..., j] = FEATURES[n](x)  # broadcast on assignment: a per-user column fills its row
    return out


def history_mean(vectors: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The unit-length mean of a history's item vectors: (..., H, D) vectors, (..., H) bool mask -> (..., D); zeros
    where no slot is real. The retrieval score of a recommendation candidate is its cosine with this vector, in
    training (no query there) and in the candidate pool the service and the evaluation share."""
    mean = (vectors * mask[..., None]).sum(axis=-2)
    return (mean / np.maximum(np.linalg.norm(mean, axis=-1, keepdims=True), 1e-9)).astype(np.float32)


@dataclass
class PastStats:
    """Per (user, candidate), from the user's history events of that item: how many, their weights 0.5^(age / 30
    days) summed, and the ages (days) of the newest and the oldest (0 when there is none). Each (B, C)."""

    count: np.ndarray
    decayed: np.ndarray
    last_age: np.ndarray
    first_age: np.ndarray


@dataclass
class HistoryGroups:
    """A batch's histories grouped by (user, item): what :class:`PastStats` reads of the history rows alone (not
    of the candidates, not of the moment), so serving keeps it per user history (:mod:`ranker.model.user_state`)."""

    span: int  # key = user * span + item row; every history row is below span - 1
    flat: np.ndarray  # (E,) positions in the flattened (B, H) history of its real events, sorted by key
    starts: np.ndarray  # (G,) where each group starts in ``flat``
    keys: np.ndarray  # (G,) sorted, one per (user, item)
    count: np.ndarray  # (G,) float32 events per group


def group_history(hist_rows: np.ndarray, hist_mask: np.ndarray) -> HistoryGroups:
    """The (user, item) groups of a (B, H) history (none without a real event)."""
    if not hist_mask.any():
        empty = np.zeros(0, dtype=np.int64)
        return HistoryGroups(1, empty, empty, empty, np.zeros(0, dtype=np.float32))
    span = int(hist_rows.max(initial=0)) + 2
    keys = (np.arange(len(hist_rows))[:, None] * span + hist_rows)[hist_mask]
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    # np.concatenate, not np.r_: this runs per served user, and np.r_'s index parsing costs more than the work.
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    count = np.diff(np.concatenate([starts, [len(keys)]])).astype(np.float32)
    return HistoryGroups(span, np.flatnonzero(hist_mask)[order], starts, keys[starts], count)


def past_stats(cand_rows: np.ndarray, hist_rows: np.ndarray, hist_mask: np.ndarray, age_days: np.ndarray):
    """:class:`PastStats` by grouping the history by (user, item) once and looking the candidates up: cheaper
    than comparing every candidate with every history event."""
    return past_from_groups(group_history(hist_rows, hist_mask), cand_rows, age_days)


def past_from_groups(groups: HistoryGroups, cand_rows: np.ndarray, age_days: np.ndarray) -> PastStats:
    """:class:`PastStats` of the (B, C) candidates from the history's :func:`group_history` and its (B, H) ages."""
    if not len(groups.keys):
        zeros = np.zeros(cand_rows.shape, dtype=np.float32)
        return PastStats(zeros, zeros, zeros, zeros)
    ages = np.maximum(age_days, 0.0).ravel()[groups.flat]
    starts, uniq = groups.starts, groups.keys
    values = np.empty((4, len(uniq)))  # count, decayed, last, first per group (np.stack costs more than this)
    values[0] = groups.count
    values[1] = np.add.reduceat(decay(ages, REPEAT_HALF_LIFE_DAYS), starts)
    np.minimum.reduceat(ages, starts, out=values[2])
    np.maximum.reduceat(ages, starts, out=values[3])
    wanted = np.arange(len(cand_rows))[:, None] * groups.span + cand_rows
    pos = np.minimum(np.searchsorted(uniq, wanted), len(uniq) - 1)
    # A candidate row past the history's span is in no history (and its key would be another user's).
    found = (uniq[pos] == wanted) & (cand_rows >= 0) & (cand_rows < groups.span)
    picked = np.where(found, values[:, pos], 0.0).astype(np.float32)
    return PastStats(*picked)


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
