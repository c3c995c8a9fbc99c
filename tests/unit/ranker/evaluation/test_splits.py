"""Splits never show a ranker the future, and count what they drop."""

from __future__ import annotations

import pandas as pd

from ranker.evaluation.splits import leave_last_out, sample_cases, time_split
from tests.fakes.evaluation import events

LOG = events([
    ("u1", "a", "2024-01-01"), ("u1", "b", "2024-01-01"), ("u1", "c", "2024-02-01"),
    ("u1", "a", "2024-03-05"), ("u1", "d", "2024-03-05"), ("u1", "e", "2024-05-01"),
    ("u2", "b", "2024-03-10"), ("u2", "c", "2024-03-12"),  # no history before the cutoff: cold
    ("u3", "c", "2024-01-15"), ("u3", "zz", "2024-03-02"),  # zz is not in the catalog
])  # fmt: skip
CATALOG = {"a", "b", "c", "d", "e"}


def test_time_split_trains_and_remembers_only_the_past():
    split = time_split(LOG, "2024-03-01", horizon_days=30, catalog=CATALOG)
    cutoff = pd.Timestamp("2024-03-01")
    assert (split.train["ts"] < cutoff).all()
    assert [c.user_id for c in split.cases] == ["u1"]
    case = split.cases[0]
    assert all(ts < cutoff for ts in case.history_ts)
    assert case.history == ("a", "b", "c")
    assert case.targets == ("a", "d")  # e is after the 30-day horizon
    assert case.repeat_targets == 1
    assert split.stats == {"future_users": 3, "cold_users": 1, "targets_not_in_catalog": 1}


def test_excluding_already_bought_targets():
    case = time_split(LOG, "2024-03-01", 30, CATALOG).cases[0]
    assert case.without_history_targets().targets == ("d",)
    only_repeat = time_split(LOG[LOG["item_id"] != "d"], "2024-03-01", 30, CATALOG).cases[0]
    assert only_repeat.without_history_targets() is None


def test_leave_last_out_holds_out_each_users_last_basket():
    split = leave_last_out(LOG, CATALOG)
    by_user = {c.user_id: c for c in split.cases}
    assert by_user["u1"].targets == ("e",)
    assert by_user["u1"].history == ("a", "b", "c", "a", "d")
    assert by_user["u2"].targets == ("c",) and by_user["u2"].history == ("b",)
    assert "u3" not in by_user  # its last basket is only an item outside the catalog
    for case in split.cases:
        last = LOG[LOG["user_id"] == case.user_id]["ts"].max()
        assert max(case.history_ts) < last
        held = split.train[(split.train["user_id"] == case.user_id) & (split.train["ts"] == last)]
        assert held.empty  # a held-out basket is never training data


def test_single_basket_users_stay_in_training_only():
    log = events([("u1", "a", "2024-01-01"), ("u1", "b", "2024-01-01"), ("u2", "a", "2024-01-02"),
                  ("u2", "c", "2024-01-05")])  # fmt: skip
    split = leave_last_out(log, {"a", "b", "c"})
    assert [c.user_id for c in split.cases] == ["u2"]
    assert set(split.train["user_id"]) == {"u1", "u2"} and len(split.train) == 3


def test_sampling_is_reproducible_and_bounded():
    split = time_split(LOG, "2024-03-01", 30, CATALOG)
    cases = split.cases * 10
    assert sample_cases(cases, 0, 1) == cases
    assert sample_cases(cases, 4, 1) == sample_cases(cases, 4, 1)
    assert len(sample_cases(cases, 4, 1)) == 4
