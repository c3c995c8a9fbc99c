"""What scoring reads of a user's history alone, computed once per history and reused by the next requests.

A shopper searches several times between two events, and every request scores against the same history. What
depends on that history only, not on the candidates and not on the moment, is a user's state: the item rows and
event types of both history windows, the times of their events, the grouping of the feature history by item (the
repeat features), the per-user features, the sequence model's user vector (a 2-layer transformer over 50 events:
the largest single cost of a scoring call) and the attention keys and values. A request then only does what its
candidates and its moment need (``bench/bench_scoring.py`` times both).

A state is keyed by the content of the history it was built from: the item, type and time of every entry given.
An event (the service takes them live) changes the history the user's next request reads from the profile store,
so the key changes with it and the next request builds a new state; the old one ages out of the LRU. No message
has to reach the cache, which is what keeps it right with several workers, each keeping its own: an event posted
to one worker changes what every worker reads. Times are kept as integer microseconds, and the ages of a request
are computed from them with the arithmetic of ``timedelta.total_seconds``: a state gives the same numbers as the
history it came from (``tests/unit/ranker/model/test_user_state.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from core.lru import LruCache
from ranker.model.features import COOC_HALF_LIFE_DAYS, HistoryGroups, decay, group_history

if TYPE_CHECKING:
    from ranker.model.scoring import HistoryEntry, Scorer

_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(ts: datetime) -> int:
    """Microseconds since the epoch; a naive time is UTC (as everywhere in the project)."""
    return (ts - (_EPOCH_UTC if ts.tzinfo is not None else _EPOCH)) // _MICROSECOND


def micros_of(times: list[datetime]) -> np.ndarray:
    """(len(times),) int64 :func:`micros` of each time; naive ones converted by numpy at once (exact to the
    microsecond), a list with an aware one time by time."""
    if any(t.tzinfo is not None for t in times):
        return np.fromiter(map(micros, times), dtype=np.int64, count=len(times))
    return np.asarray(times, dtype="datetime64[us]").astype(np.int64)


def history_key(history: Sequence[HistoryEntry]) -> Hashable:
    """What a state is built from: the item, type and time of every entry (their weights are not read)."""
    return (tuple([h.item_id for h in history]), tuple([h.type for h in history]), tuple([h.ts for h in history]))


@dataclass(slots=True)
class UserState:
    """One history's share of a scoring call (``hist*``: the attention window, ``feat_rows``: the feature window)."""

    hist: list[Any]  # (H,) the entries attention reads, newest first (explanations name them)
    hist_rows: np.ndarray  # (H,) int64 item-table rows
    hist_types: np.ndarray  # (H,) int64 event-type index
    feat_rows: np.ndarray  # (Hf,) int64 item-table rows of the feature window
    micros: np.ndarray  # (max(H, Hf),) int64 times of the known entries, newest first
    groups: HistoryGroups  # the feature window grouped by item
    user_values: np.ndarray  # the per-user features (FeaturePlan.user_values)
    vector: np.ndarray | None  # the sequence model's user vector (None without one or a known item)
    cooc: np.ndarray | None  # (2, N + 1) FeaturePlan.cooc_table at the feature window's newest event
    newest: int  # the time of the feature window's newest event (micros), what ``cooc``'s recent half is aged at
    #: (recency buckets, keys, values) of the attention window at the last request: reused while the buckets hold.
    kv: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def cooc_sums(self, cand_rows: np.ndarray, now_micros: int) -> np.ndarray | None:
        """(2, C) the co-occurrence sums (all, recent) of the candidates at item rows ``cand_rows`` at
        ``now_micros``; None without a table, or before the newest event (a future event's age counts as 0 there,
        which does not factor: the request sums its cells)."""
        if self.cooc is None or now_micros < self.newest:
            return None
        sums = self.cooc[:, cand_rows]  # row -1: the unknown item's all-zero column
        sums[1] *= decay(np.asarray([((now_micros - self.newest) / 1e6) / 86400.0]), COOC_HALF_LIFE_DAYS)[0]
        return sums

    def ages_days(self, now_micros: int) -> np.ndarray:
        """(max(H, Hf),) float64 age of each known entry at ``now_micros`` (:func:`micros`) in days, as
        ``timedelta.total_seconds`` would give it (the microseconds are exact in float64; each division rounds once,
        as there)."""
        return ((now_micros - self.micros) / 1e6) / 86400.0


def build_state(scorer: Scorer, history: Sequence[HistoryEntry]) -> UserState:
    """The state of ``history`` (newest first) for ``scorer``'s model and item table."""
    config = scorer.config
    window = list(history[: config.history_needed])
    rows = scorer.item_vectors.rows([h.item_id for h in window])
    found = rows >= 0
    known = [h for h, f in zip(window, found.tolist(), strict=True) if f]  # items of the table, newest first
    known_rows = rows[found]
    n_attend = int(found[: config.history_length].sum())
    n_feat = int(found[: config.feature_history].sum())
    hist = known[:n_attend]
    hist_rows = known_rows[:n_attend]
    feat_rows = known_rows[:n_feat]
    index = scorer.type_index
    times = micros_of([h.ts for h in known[: max(n_attend, n_feat)]])
    newest = int(times[:n_feat].max(initial=0))
    # The ages at the newest event, with the arithmetic of UserState.ages_days.
    at_newest = ((newest - times[:n_feat]) / 1e6) / 86400.0
    return UserState(
        hist=hist,
        hist_rows=hist_rows,
        hist_types=np.fromiter((index.get(h.type, 0) for h in hist), dtype=np.int64, count=len(hist)),
        feat_rows=feat_rows,
        micros=times,
        groups=group_history(feat_rows[None], np.ones((1, n_feat), dtype=bool)),
        user_values=scorer.plan.user_values(feat_rows),
        vector=scorer.behaviour.user_vector(history) if scorer.behaviour is not None else None,
        cooc=scorer.plan.cooc_table(feat_rows, at_newest) if n_feat else None,
        newest=newest,
    )


class UserStates(LruCache[UserState]):
    """The states of the ``size`` most recently scored histories (0: none kept), least recently used out first,
    keyed by the history's content (:func:`history_key`); thread-safe, built outside the lock
    (:class:`core.lru.LruCache`)."""

    def get(self, history: Sequence[HistoryEntry], build: Callable[[], UserState]) -> UserState:  # type: ignore[override]
        """The state of ``history``, built with ``build()`` unless kept."""
        return super().get(history_key(history), build) if self.size > 0 else build()
