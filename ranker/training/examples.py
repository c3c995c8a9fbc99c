"""Next-item training examples from the events frame, and the numpy batches the trainer feeds the model.

An example is (a user's history before a basket, one item of that basket). A basket is the user's events with the
same timestamp (an invoice in Online Retail), so the history never sees the basket it predicts. Examples are
split by time: those whose basket is in the newest ``validation_fraction`` of the time span validate (or of the
examples, when the span's share holds fewer: an event far newer than the rest would otherwise leave none).

Items the catalog marks not recommendable (postage, fees: :attr:`ranker.model.ItemVectors.recommendable`) are in
the histories and the item statistics like any other (they are part of the baskets: paying postage says something
about a customer), but never a target: the service never ranks them, so a model trained to predict them (postage is
in most baskets) would spend its capacity, and its validation metrics, on answers that are never served.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from core.errors import InputError
from core.ranges import range_positions
from ranker.model import (
    TREND_DAYS,
    AlignedStats,
    CoOccurrence,
    ItemVectors,
    RankerConfig,
    candidate_features,
    history_mean,
    recency_buckets,
    repeat_rates,
)

_NS_PER_DAY = 86_400 * 10**9


@dataclass
class NextItemData:
    """Events as arrays (sorted by user, time) plus the examples pointing into them."""

    item_rows: np.ndarray  # (E,) int64 row in the item table
    types: np.ndarray  # (E,) int64 event-type index
    days: np.ndarray  # (E,) float64 days since the first event
    user_start: np.ndarray  # (X,) index of the example's user's first event
    hist_end: np.ndarray  # (X,) index one past the last history event (= first event of the basket)
    target: np.ndarray  # (X,) int64 item row of the next item
    target_day: np.ndarray  # (X,) float64
    cutoff_day: float  # examples with target_day >= cutoff_day validate
    basket_end: np.ndarray  # (X,) index one past the last event of the example's basket
    horizon_end: np.ndarray  # (X,) index one past the user's last event within the horizon after the basket
    basket: np.ndarray  # (E,) int64 basket key of each event (the index of its first event)
    event_user: np.ndarray  # (E,) int64 user key of each event (the index of the user's first event)
    target_event: np.ndarray  # (E,) bool: the event is of a target type (what the trend feature counts)

    @property
    def train_index(self) -> np.ndarray:
        return np.flatnonzero(self.target_day < self.cutoff_day)

    @property
    def validation_index(self) -> np.ndarray:
        return np.flatnonzero(self.target_day >= self.cutoff_day)

    def _period(self, through_end: bool) -> np.ndarray:
        """(E,) bool: the events of the training period, or every event with ``through_end``."""
        return np.ones(len(self.days), dtype=bool) if through_end else self.days < self.cutoff_day

    def target_counts(self, ids: list[str], through_end: bool = False) -> dict[str, float]:
        """Target events per item id among the training examples' events (popularity without the future);
        ``through_end``: among all events (what a trained model serves with)."""
        rows = self.item_rows[self._period(through_end)]
        counts = np.bincount(rows, minlength=len(ids))
        return {ids[r]: float(c) for r, c in enumerate(counts) if c > 0}

    def cooccurrence(self, ids: list[str], through_end: bool = False) -> CoOccurrence:
        """Pairs bought in the same basket among the training period's events (no validation basket in it), or
        among all events."""
        period = self._period(through_end)
        return CoOccurrence.fit_rows(self.basket[period], self.item_rows[period], ids)

    def repeat_rates(self, ids: list[str], through_end: bool = False) -> tuple[dict[str, float], float]:
        """Each item's share of buyers who bought it again, in the training period or over all events
        (:func:`repeat_rates`)."""
        period = self._period(through_end)
        items = np.asarray(ids, dtype=object)[self.item_rows[period]]
        return repeat_rates(self.event_user[period], self.basket[period], items)

    @cached_property
    def _trend_keys(self) -> tuple[np.ndarray, float]:
        span = float(self.days.max(initial=0.0)) + TREND_DAYS + 1.0
        keys = self.item_rows[self.target_event] * span + self.days[self.target_event]
        return np.sort(keys), span

    def trend_counts(self, rows: np.ndarray, at_day: np.ndarray) -> np.ndarray:
        """(B, C): target events of item ``rows[b, c]`` in the TREND_DAYS before ``at_day[b]`` (row -1: 0)."""
        keys, span = self._trend_keys
        at = (rows * span + at_day[:, None]).ravel()
        # Searched in sorted order: each search starts where the last ended, in memory just read (the keys of a
        # 20M-event shop are tens of MB: random searches would miss the cache at every step, 2.6x slower).
        order = np.argsort(at)
        ends = at[order]
        counts = np.empty(len(at), dtype=np.int64)
        counts[order] = np.searchsorted(keys, ends, side="left") - np.searchsorted(keys, ends - TREND_DAYS, side="left")
        return np.where(rows >= 0, counts.reshape(rows.shape), 0).astype(np.float32)

    def latest_trend(self, ids: list[str]) -> tuple[dict[str, float], float]:
        """Target events per item in the data's last TREND_DAYS (what serving reads), and the feature's scale."""
        end = float(self.days.max(initial=0.0))
        recent = self.target_event & (self.days > end - TREND_DAYS)
        counts = np.bincount(self.item_rows[recent], minlength=len(ids))
        return {ids[r]: float(c) for r, c in enumerate(counts) if c > 0}, float(np.log1p(counts.max(initial=0)) or 1.0)

    def bought_from_basket(self, ex: np.ndarray, rows: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(B, K) bool: the user of example ``ex[b]`` bought ``rows[b, k]`` from its basket on, before event index
        ``ends[ex[b]]`` (``basket_end``: in the basket; ``horizon_end``: within the horizon)."""
        if not len(ex):
            return np.zeros(rows.shape, dtype=bool)
        starts = self.hist_end[ex]
        lengths = ends[ex] - starts
        # One isin over (example, item) keys instead of one per example (a batch's 128 calls cost more than the work).
        offsets = range_positions(starts, lengths)
        bought = self.item_rows[offsets]
        span = int(max(bought.max(initial=0), rows.max(initial=0))) + 2  # rows may hold -1 (padding): shifted by one
        owner = np.repeat(np.arange(len(ex)), lengths)
        wanted = np.arange(len(ex))[:, None] * span + rows + 1
        return np.isin(wanted, owner * span + bought + 1)


def build_examples(
    events: pd.DataFrame,
    items: ItemVectors,
    config: RankerConfig,
    *,
    target_types: tuple[str, ...] = ("purchase",),
    targets_per_basket: int = 3,
    validation_fraction: float = 0.1,
    horizon_days: float = 30.0,
    seed: int = 0,
) -> NextItemData:
    """Examples from an events frame (``ranker.feedback.frames.FRAME_COLUMNS``) over the items in ``items``."""
    missing = [c for c in ("user_id", "item_id", "type", "ts") if c not in events.columns]
    if missing:
        raise InputError("the events frame lacks a column", field=missing[0])
    rows = _item_rows(events["item_id"], items)
    known = rows >= 0
    frame = pd.DataFrame({
        "user": _sorted_codes(events["user_id"])[known],
        "type": events["type"].array[known],
        "ts": events["ts"].to_numpy()[known].astype("datetime64[ns]"),
        "row": rows[known],
    })  # fmt: skip
    frame = frame.sort_values(["user", "ts"], kind="stable").reset_index(drop=True)
    if frame.empty:
        raise InputError("no events name an item of the index; import events and build the index first")
    ts = frame["ts"].to_numpy().astype(np.int64)
    days = (ts - ts.min()) / _NS_PER_DAY
    user = frame["user"].to_numpy()
    n = len(frame)
    idx = np.arange(n)
    new_user = np.r_[True, user[1:] != user[:-1]]
    new_basket = new_user | np.r_[True, ts[1:] != ts[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, idx, 0))
    basket_start = np.maximum.accumulate(np.where(new_basket, idx, 0))
    is_target = frame["type"].isin(target_types).to_numpy() & (basket_start > user_start)
    is_target &= items.recommendable[frame["row"].to_numpy()]  # history, never a target (see the module's docstring)
    # One example per distinct item in a basket, at most `targets_per_basket` of them, drawn at random.
    cand = pd.DataFrame({"basket": basket_start, "row": frame["row"].to_numpy(), "i": idx})[is_target]
    cand = cand.drop_duplicates(["basket", "row"])
    cand["key"] = np.random.default_rng(seed).random(len(cand))
    cand = cand.sort_values(["basket", "key"], kind="stable")
    cand = cand[cand.groupby("basket").cumcount() < targets_per_basket].sort_values("i", kind="stable")
    chosen = cand["i"].to_numpy()
    # One past each basket's last event: the start of the next basket (or of the next user, or the end).
    starts = np.flatnonzero(new_basket)
    next_start = np.r_[starts[1:], n]
    basket_end = next_start[np.searchsorted(starts, basket_start[chosen], side="left")]
    # Events are sorted by (user, time): "user then day" keys find the end of each example's horizon at once.
    user_key = np.cumsum(new_user) - 1
    span_days = float(days.max()) + horizon_days + 1.0
    keys = user_key * span_days + days
    horizon_end = np.searchsorted(keys, user_key[chosen] * span_days + days[chosen] + horizon_days, side="left")
    type_codes, type_names = pd.factorize(frame["type"])
    type_rows = np.array([config.type_index(str(t)) for t in type_names], dtype=np.int64)
    span = float(days.max())
    cutoff = span * (1.0 - validation_fraction) if span > 0 else np.inf
    if len(chosen) and span > 0:
        # The newest share of the time span, or of the examples when the span's share holds fewer: one event far
        # newer than the rest (a live click today on a store of old imported history) must not leave no
        # validation examples at all.
        cutoff = min(cutoff, float(np.quantile(days[chosen], 1.0 - validation_fraction, method="higher")))
    return NextItemData(
        item_rows=frame["row"].to_numpy().astype(np.int64),
        types=type_rows[type_codes],
        days=days,
        user_start=user_start[chosen],
        hist_end=basket_start[chosen],
        target=frame["row"].to_numpy()[chosen].astype(np.int64),
        target_day=days[chosen],
        cutoff_day=cutoff,
        basket_end=basket_end.astype(np.int64),
        horizon_end=np.maximum(horizon_end, basket_end).astype(np.int64),
        basket=basket_start.astype(np.int64),
        event_user=user_start.astype(np.int64),
        target_event=frame["type"].isin(target_types).to_numpy(),
    )


def _item_rows(ids: pd.Series, items: ItemVectors) -> np.ndarray:
    """(E,) item-table row of each event's item, -1 outside the table; a categorical column (the compact events
    frame, :mod:`ranker.feedback.columns`) is looked up once per distinct id."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        codes = ids.cat.codes.to_numpy()
        return np.where(codes >= 0, items.rows(ids.cat.categories.astype(str).tolist())[codes], -1)
    return items.rows(ids.astype(str).tolist())


def _sorted_codes(users: pd.Series) -> np.ndarray:
    """(E,) int64 codes of the user ids that sort as the ids' texts do (a user's events then stay together and the
    users keep the order of the string frame, so examples and their random draws are the same either way)."""
    if isinstance(users.dtype, pd.CategoricalDtype):
        categories = users.cat.categories
        if categories.inferred_type == "string" and categories.is_monotonic_increasing:
            return users.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(users.astype(str), sort=True)[0].astype(np.int64)


@dataclass
class Batch:
    """One batch as numpy arrays (the trainer moves them to the device)."""

    cand_rows: np.ndarray  # (B, C) int64, column 0 is the positive
    valid: np.ndarray  # (B, C) bool, False for candidates that must not count as negatives
    features: np.ndarray  # (B, C, F) float32
    hist_rows: np.ndarray  # (B, H) int64, 0 in padded slots
    hist_types: np.ndarray  # (B, H) int64
    hist_recency: np.ndarray  # (B, H) int64
    hist_mask: np.ndarray  # (B, H) bool


def _window(data: NextItemData, ex: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Event positions (B, H), oldest .. newest, of the newest ``length`` events before each example's basket,
    and the mask of real slots."""
    end = data.hist_end[ex]
    start = np.maximum(data.user_start[ex], end - length)
    pos = end[:, None] - length + np.arange(length)[None, :]
    mask = pos >= start[:, None]
    return np.where(mask, pos, 0), mask


def history_arrays(data: NextItemData, ex: np.ndarray, length: int, buckets: int) -> tuple[np.ndarray, ...]:
    """(rows, types, recency, mask), each (B, H), of the newest ``length`` events before each example's basket."""
    pos, mask = _window(data, ex, length)
    rows = np.where(mask, data.item_rows[pos], 0)
    types = np.where(mask, data.types[pos], 0)
    age = data.target_day[ex][:, None] - data.days[pos]
    recency = np.where(mask, recency_buckets(age, buckets), 0)
    return rows, types, recency, mask


def feature_history(data: NextItemData, ex: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows with -1 in padded slots, mask, age in days at the basket), each (B, H): the history the scalar
    features read (:func:`ranker.model.features.candidate_features`)."""
    pos, mask = _window(data, ex, length)
    rows = np.where(mask, data.item_rows[pos], -1)
    age = np.where(mask, data.target_day[ex][:, None] - data.days[pos], 0.0)
    return rows, mask, age


def bought_soon(data: NextItemData, ex: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(B, K) bool: the user of ``ex[b]`` bought ``rows[b, k]`` in the horizon from the example's basket on: a
    candidate that is wanted, just not in this basket, so it is no negative either."""
    return data.bought_from_basket(ex, rows, data.horizon_end)


def in_basket(data: NextItemData, ex: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(B, K) bool: ``rows[b, k]`` was bought in example ``ex[b]``'s basket (a positive, never a negative)."""
    return data.bought_from_basket(ex, rows, data.basket_end)


def retrieval_proxy(vectors: np.ndarray, hist_rows: np.ndarray, mask: np.ndarray, cand_rows: np.ndarray) -> np.ndarray:
    """Training has no search query, so the retrieval score is what history-based k-NN retrieval gives: the cosine
    of each candidate with :func:`ranker.model.features.history_mean` of the attention window, exactly as the
    candidate pool of /v1/recommend and the evaluation scores its candidates. (B, C) float32."""
    mean = history_mean(vectors[hist_rows], mask)  # (B, D)
    cand = vectors[cand_rows]  # (B, C, D)
    cand_norm = np.maximum(np.linalg.norm(cand, axis=2), 1e-9)
    return (np.einsum("bcd,bd->bc", cand, mean) / cand_norm).astype(np.float32)


def make_batch(
    data: NextItemData,
    ex: np.ndarray,
    vectors: np.ndarray,
    stats: AlignedStats,
    config: RankerConfig,
    negatives: np.ndarray,
    in_batch: int = 0,
    sequence: SequenceScores | None = None,
) -> Batch:
    """Candidates = [positive, ``negatives`` (B, K: sampled, hard ones included), the positives of the batch's first
    ``in_batch`` examples (in-batch negatives: popular items show up as often as they are bought)]. Every candidate
    the user bought in the example's basket or within the horizon after it is marked invalid (it is not a negative),
    except column 0."""
    pos = data.target[ex]
    parts = [pos[:, None], negatives]
    if in_batch > 0:
        shared = pos[: min(in_batch, len(ex))]
        parts.append(np.broadcast_to(shared[None, :], (len(ex), len(shared))))
    cand = np.concatenate(parts, axis=1)  # (B, C)
    cand_in_basket = in_basket(data, ex, cand)
    valid = ~bought_soon(data, ex, cand)
    valid[:, 0] = True
    rows, types, recency, mask = history_arrays(data, ex, config.history_length, config.recency_buckets)
    retrieval = retrieval_proxy(vectors, rows, mask, cand)
    f_rows, f_mask, f_age = feature_history(data, ex, config.feature_history)
    # A training basket is inside the co-occurrence counts: its own pairs (history item and candidate both in it)
    # are taken out, else the feature would know the answer. Validation baskets are after the counts' cutoff.
    counted = (data.target_day[ex] < data.cutoff_day)[:, None]
    leave_out = (cand_in_basket & counted, in_basket(data, ex, f_rows) & f_mask & counted)
    trend = data.trend_counts(cand, data.target_day[ex]) if "trend" in config.features else None
    features = candidate_features(
        retrieval, cand, f_rows, f_mask, stats, f_age, config.features, leave_out=leave_out, trend_counts=trend,
        sequence_scores=sequence.scores(ex, cand) if sequence is not None else None,
    )  # fmt: skip
    return Batch(cand, valid, features, rows, types, recency, mask)


@dataclass
class SequenceScores:
    """The sequence model's view of every example: the user vector at the example's basket (from the history
    before it) and the item vectors, so a batch's candidates are scored as serving scores them."""

    users: np.ndarray  # (X, D) one per example
    items: np.ndarray  # (T, N, D) item vectors of T models, aligned with the item table's rows
    table_of: np.ndarray  # (X,) which model scored the example (0: the served one; others: cross-fitting folds)

    def scores(self, ex: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """(B, C) score of candidate ``cand[b, c]`` (an item-table row, -1 unknown: 0) for example ``ex[b]``."""
        found = self.items[self.table_of[ex][:, None], np.maximum(cand, 0)]  # (B, C, D)
        return np.where(cand >= 0, np.einsum("bcd,bd->bc", found, self.users[ex]), 0.0).astype(np.float32)
