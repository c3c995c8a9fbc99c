"""Next-item training examples from the events frame, and the numpy batches the trainer feeds the model.

An example is (a user's history before a basket, one item of that basket). A basket is the user's events with the
same timestamp (an invoice in Online Retail), so the history never sees the basket it predicts. Examples are
split by time: those whose basket is in the newest ``validation_fraction`` of the time span validate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from indexer.errors import InputError
from ranker.features import AlignedStats, candidate_features, recency_buckets
from ranker.item_vectors import ItemVectors
from ranker.model import RankerConfig

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

    @property
    def train_index(self) -> np.ndarray:
        return np.flatnonzero(self.target_day < self.cutoff_day)

    @property
    def validation_index(self) -> np.ndarray:
        return np.flatnonzero(self.target_day >= self.cutoff_day)

    def target_counts(self, ids: list[str]) -> dict[str, float]:
        """Target events per item id among the training examples' events (popularity without the future)."""
        rows = self.item_rows[self.days < self.cutoff_day]
        counts = np.bincount(rows, minlength=len(ids))
        return {ids[r]: float(c) for r, c in enumerate(counts) if c > 0}


def build_examples(
    events: pd.DataFrame,
    items: ItemVectors,
    config: RankerConfig,
    *,
    target_types: tuple[str, ...] = ("purchase",),
    targets_per_basket: int = 3,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> NextItemData:
    """Examples from an events frame (``ranker.events.load_events_frame`` columns) over the items in ``items``."""
    missing = [c for c in ("user_id", "item_id", "type", "ts") if c not in events.columns]
    if missing:
        raise InputError("the events frame lacks a column", field=missing[0])
    rows = items.rows(events["item_id"].astype(str).tolist())
    frame = events.loc[rows >= 0, ["user_id", "type", "ts"]].copy()
    frame["row"] = rows[rows >= 0]
    frame = frame.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
    if frame.empty:
        raise InputError("no events name an item of the index; import events and build the index first")
    ts = frame["ts"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    days = (ts - ts.min()) / _NS_PER_DAY
    user = frame["user_id"].astype(str).to_numpy()
    n = len(frame)
    idx = np.arange(n)
    new_user = np.r_[True, user[1:] != user[:-1]]
    new_basket = new_user | np.r_[True, ts[1:] != ts[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, idx, 0))
    basket_start = np.maximum.accumulate(np.where(new_basket, idx, 0))
    is_target = frame["type"].isin(target_types).to_numpy() & (basket_start > user_start)
    # One example per distinct item in a basket, at most `targets_per_basket` of them, drawn at random.
    cand = pd.DataFrame({"basket": basket_start, "row": frame["row"].to_numpy(), "i": idx})[is_target]
    cand = cand.drop_duplicates(["basket", "row"])
    cand["key"] = np.random.default_rng(seed).random(len(cand))
    cand = cand.sort_values(["basket", "key"], kind="stable")
    cand = cand[cand.groupby("basket").cumcount() < targets_per_basket].sort_values("i", kind="stable")
    chosen = cand["i"].to_numpy()
    type_index = {t: config.type_index(t) for t in frame["type"].unique()}
    span = float(days.max())
    return NextItemData(
        item_rows=frame["row"].to_numpy().astype(np.int64),
        types=frame["type"].map(type_index).to_numpy().astype(np.int64),
        days=days,
        user_start=user_start[chosen],
        hist_end=basket_start[chosen],
        target=frame["row"].to_numpy()[chosen].astype(np.int64),
        target_day=days[chosen],
        cutoff_day=span * (1.0 - validation_fraction) if span > 0 else np.inf,
    )


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


def history_arrays(data: NextItemData, ex: np.ndarray, length: int, buckets: int) -> tuple[np.ndarray, ...]:
    """(rows, types, recency, mask), each (B, H), of the newest ``length`` events before each example's basket."""
    end = data.hist_end[ex]
    start = np.maximum(data.user_start[ex], end - length)
    pos = end[:, None] - length + np.arange(length)[None, :]  # (B, H) oldest .. newest
    mask = pos >= start[:, None]
    pos = np.where(mask, pos, 0)
    rows = np.where(mask, data.item_rows[pos], 0)
    types = np.where(mask, data.types[pos], 0)
    age = data.target_day[ex][:, None] - data.days[pos]
    recency = np.where(mask, recency_buckets(age, buckets), 0)
    return rows, types, recency, mask


def retrieval_proxy(vectors: np.ndarray, hist_rows: np.ndarray, mask: np.ndarray, cand_rows: np.ndarray) -> np.ndarray:
    """Training has no search query, so the retrieval score is what history-based k-NN retrieval would give:
    cosine of each candidate with the mean of the user's history vectors. (B, C) float32."""
    mean = (vectors[hist_rows] * mask[:, :, None]).sum(axis=1)  # (B, D)
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-9)
    cand = vectors[cand_rows]  # (B, C, D)
    cand_norm = np.maximum(np.linalg.norm(cand, axis=2), 1e-9)
    return (np.einsum("bcd,bd->bc", cand, mean) / cand_norm).astype(np.float32)


def make_batch(
    data: NextItemData,
    ex: np.ndarray,
    vectors: np.ndarray,
    stats: AlignedStats,
    config: RankerConfig,
    history_length: int,
    negatives: np.ndarray,
    in_batch: int = 0,
) -> Batch:
    """Candidates = [positive, sampled ``negatives`` (B, K), the positives of the batch's first ``in_batch``
    examples (in-batch negatives: popular items show up as often as they are bought)]. Each row's own positive
    among them is marked invalid."""
    pos = data.target[ex]
    parts = [pos[:, None], negatives]
    if in_batch > 0:
        shared = pos[: min(in_batch, len(ex))]
        parts.append(np.broadcast_to(shared[None, :], (len(ex), len(shared))))
    cand = np.concatenate(parts, axis=1)  # (B, C)
    valid = cand != pos[:, None]
    valid[:, 0] = True  # accidental hits (a negative that is the positive) do not count
    rows, types, recency, mask = history_arrays(data, ex, history_length, config.recency_buckets)
    retrieval = retrieval_proxy(vectors, rows, mask, cand)
    features = candidate_features(retrieval, cand, np.where(mask, rows, -1), mask, stats)
    return Batch(cand, valid, features, rows, types, recency, mask)
