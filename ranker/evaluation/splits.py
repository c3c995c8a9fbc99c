"""Train/test splits that never show a ranker the future.

* :func:`time_split` — fit on every event before the cutoff T; test each user who has history before T on the
  distinct items they buy in ``[T, T + horizon)``. Nothing at or after T is in the training events or a history.
* :func:`leave_last_out` — each user's last basket (their events at their last timestamp) is the target, the
  earlier events are the history. The training events are everything except the held-out baskets, so other
  users' later events can be in them (the known weakness of this protocol; the time split has none).
* :func:`last_item` — the protocol of the sequential-recommendation papers (RecBole's leave-one-out): an
  interaction is one event row; for each user with at least ``min_interactions`` of them the last one is the test
  target and the one before it the validation target. The training events are everything but those two per user;
  a test case's history is every event before its target (the validation one included), a validation case's every
  event before the validation target. The same leak as leave-last-out: other users' later events are in training.

Targets outside the catalog cannot be retrieved by anything and are dropped (and counted); so are targets the catalog
marks not recommendable (``recommendable``: postage, fees), which nothing served ever returns. Histories keep both.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TestCase:
    """One test user: what they did before (oldest first, repeats kept) and what they bought next."""

    __test__ = False  # not a pytest test class

    user_id: str
    history: tuple[str, ...]
    history_ts: tuple[pd.Timestamp, ...]
    targets: tuple[str, ...]
    #: When the user came back (their first test event): the moment a live system would rank for them.
    at: pd.Timestamp | None = None

    @property
    def seen(self) -> frozenset[str]:
        """Distinct items in the history (the 'already bought' set)."""
        return frozenset(self.history)

    @property
    def repeat_targets(self) -> int:
        """How many targets the user had bought before."""
        seen = self.seen
        return sum(1 for t in self.targets if t in seen)

    def without_history_targets(self) -> TestCase | None:
        """The case with already-bought targets removed; None when nothing new is left."""
        seen = self.seen
        fresh = tuple(t for t in self.targets if t not in seen)
        return TestCase(self.user_id, self.history, self.history_ts, fresh, self.at) if fresh else None


@dataclass
class Split:
    """Training events and test cases of one protocol."""

    name: str
    train: pd.DataFrame
    cases: list[TestCase]
    cutoff: pd.Timestamp | None = None
    stats: dict[str, int] = field(default_factory=dict)
    #: Held-out cases a ranker may early-stop on (their targets are not in ``train`` either); empty when the split
    #: has none.
    validation: list[TestCase] = field(default_factory=list)


def _cases(
    history: pd.DataFrame,
    future: pd.DataFrame,
    catalog: Collection[str] | None,
    recommendable: Collection[str] | None = None,
) -> tuple[list[TestCase], dict]:
    stats = {"future_users": int(future["user_id"].nunique()), "cold_users": 0, "targets_not_in_catalog": 0}
    if recommendable is not None:
        stats["targets_not_recommendable"] = 0
    by_user = {u: g for u, g in history.groupby("user_id", sort=False)}
    cases = []
    for user, g in future.groupby("user_id", sort=True):
        past = by_user.get(user)
        if past is None:
            stats["cold_users"] += 1  # no history: nothing to personalise from
            continue
        targets = list(dict.fromkeys(g["item_id"]))
        if catalog is not None:
            kept = [t for t in targets if t in catalog]
            stats["targets_not_in_catalog"] += len(targets) - len(kept)
            targets = kept
        if recommendable is not None:
            kept = [t for t in targets if t in recommendable]
            stats["targets_not_recommendable"] += len(targets) - len(kept)
            targets = kept
        if not targets:
            continue
        cases.append(TestCase(str(user), tuple(past["item_id"]), tuple(past["ts"]), tuple(targets), g["ts"].min()))
    return cases, stats


def time_split(
    events: pd.DataFrame,
    cutoff: pd.Timestamp | str | None = None,
    horizon_days: float = 30.0,
    catalog: Collection[str] | None = None,
    recommendable: Collection[str] | None = None,
) -> Split:
    """Fit on events before ``cutoff`` (default: ``horizon_days`` before the last event); test on each user's
    distinct items in ``[cutoff, cutoff + horizon_days)`` that are in ``catalog`` and ``recommendable`` (when
    given)."""
    horizon = timedelta(days=horizon_days)
    t = pd.Timestamp(cutoff) if cutoff is not None else events["ts"].max() - horizon
    train = events[events["ts"] < t]
    future = events[(events["ts"] >= t) & (events["ts"] < t + horizon)]
    cases, stats = _cases(train, future, catalog, recommendable)
    return Split("time", train.reset_index(drop=True), cases, t, stats)


def leave_last_out(
    events: pd.DataFrame, catalog: Collection[str] | None = None, recommendable: Collection[str] | None = None
) -> Split:
    """Hold out each user's last basket (their events at their last timestamp); users with one basket only
    give no test case but stay in the training events. Targets as in :func:`time_split`."""
    last_ts = events.groupby("user_id")["ts"].transform("max")
    baskets = events.groupby("user_id")["ts"].transform("nunique")
    held = (events["ts"] == last_ts) & (baskets > 1)
    cases, stats = _cases(events[~held & (baskets > 1)], events[held], catalog, recommendable)
    return Split("leave-last-out", events[~held].reset_index(drop=True), cases, None, stats)


def last_item(
    events: pd.DataFrame,
    catalog: Collection[str] | None = None,
    min_interactions: int = 5,
    recommendable: Collection[str] | None = None,
) -> Split:
    """Hold out each user's last interaction (test) and the one before it (validation), for users with at least
    ``min_interactions`` interactions (event rows, in the frame's order: user, time, write order); the others keep
    all their events in training and give no case. Cases whose target is outside the catalog, or not
    ``recommendable`` (postage, fees: nothing served returns them), are dropped and counted."""
    if min_interactions < 3:
        raise ValueError("the last-item split needs min_interactions >= 3 (one event of history in training)")
    events = events.sort_values(["user_id", "ts"], kind="stable")  # a no-op on the events frame's own order
    users = events.groupby("user_id", sort=False)
    position = users.cumcount().to_numpy()
    size = users["item_id"].transform("size").to_numpy()
    eligible = size >= min_interactions
    held = eligible & (position >= size - 2)
    n_users = int(events["user_id"].nunique())
    stats = {"users": n_users, "short_users": n_users - int(events.loc[eligible, "user_id"].nunique()),
             "targets_not_in_catalog": 0}  # fmt: skip
    if recommendable is not None:
        stats["targets_not_recommendable"] = 0
    cases: list[TestCase] = []
    validation: list[TestCase] = []
    for user, g in events[eligible].groupby("user_id", sort=True):
        items, times = tuple(g["item_id"]), tuple(g["ts"])
        for out, end in ((validation, len(items) - 2), (cases, len(items) - 1)):
            if catalog is not None and items[end] not in catalog:
                stats["targets_not_in_catalog"] += 1
                continue
            if recommendable is not None and items[end] not in recommendable:
                stats["targets_not_recommendable"] += 1
                continue
            out.append(TestCase(str(user), items[:end], times[:end], (items[end],), times[end]))
    train = events[~held].reset_index(drop=True)
    return Split("last-item", train, cases, None, stats, validation)


def sample_cases(cases: list[TestCase], max_users: int, seed: int) -> list[TestCase]:
    """At most ``max_users`` cases, drawn at random (reproducibly); all of them when ``max_users`` is 0."""
    if not max_users or len(cases) <= max_users:
        return list(cases)
    picked = np.random.default_rng(seed).choice(len(cases), size=max_users, replace=False)
    return [cases[i] for i in sorted(picked)]
