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


def test_last_item_holds_out_the_last_interaction_for_test_and_the_one_before_for_validation():
    from ranker.evaluation.splits import last_item

    log = events([
        ("u1", "a", "2024-01-01"), ("u1", "b", "2024-01-01"), ("u1", "c", "2024-01-02"), ("u1", "a", "2024-01-03"),
        ("u1", "d", "2024-01-04"), ("u1", "e", "2024-01-04"),  # validation d and test e share their time: row order
        ("u2", "a", "2024-01-01"), ("u2", "b", "2024-01-02"), ("u2", "c", "2024-01-03"),  # under the minimum
        ("u3", "b", "2024-01-01"), ("u3", "c", "2024-01-02"), ("u3", "d", "2024-01-03"), ("u3", "a", "2024-01-04"),
        ("u3", "zz", "2024-01-05"),  # test target outside the catalog: no test case, the validation one stays
    ])  # fmt: skip
    split = last_item(log, CATALOG, min_interactions=5)
    assert [c.user_id for c in split.cases] == ["u1"] and [c.user_id for c in split.validation] == ["u1", "u3"]
    test, valid = split.cases[0], split.validation[0]
    assert test.targets == ("e",) and test.history == ("a", "b", "c", "a", "d")  # the validation item included
    assert test.at == pd.Timestamp("2024-01-04") and test.history_ts[-1] == pd.Timestamp("2024-01-04")
    assert valid.targets == ("d",) and valid.history == ("a", "b", "c", "a") and valid.at == pd.Timestamp("2024-01-04")
    assert split.validation[1].targets == ("a",) and split.validation[1].history == ("b", "c", "d")
    assert split.stats == {"users": 3, "short_users": 1, "targets_not_in_catalog": 1}
    # Training: everything but the two held-out interactions of each user with enough of them.
    train = split.train.groupby("user_id")["item_id"].apply(tuple).to_dict()
    assert train == {"u1": ("a", "b", "c", "a"), "u2": ("a", "b", "c"), "u3": ("b", "c", "d")}
    assert len(split.train) == len(log) - 4


def test_last_item_never_trains_on_a_held_out_interaction_of_a_larger_log():
    from ranker.evaluation.splits import last_item
    from tests.builders.shop import clustered_shop

    log, _ = clustered_shop(users=30, baskets=3)
    # Users of 3 to 6 interactions: each loses 0-3 of its first ones.
    log = log[log.groupby("user_id").cumcount() >= log["user_id"].astype(int) % 4].reset_index(drop=True)
    split = last_item(log, None, min_interactions=5)
    sizes = log.groupby("user_id").size()
    assert (sizes < 5).any() and (sizes >= 5).any()
    assert {c.user_id for c in split.cases} == {c.user_id for c in split.validation} == set(sizes[sizes >= 5].index)
    for case in split.cases:
        user = log[log["user_id"] == case.user_id]
        assert case.targets == (user["item_id"].iloc[-1],) and case.at == user["ts"].iloc[-1]
        assert case.history == tuple(user["item_id"].iloc[:-1])
        trained = split.train[split.train["user_id"] == case.user_id]
        assert tuple(trained["item_id"]) == tuple(user["item_id"].iloc[:-2])  # neither held-out row
    for case in split.validation:
        user = log[log["user_id"] == case.user_id]
        assert case.targets == (user["item_id"].iloc[-2],) and case.history == tuple(user["item_id"].iloc[:-2])
    short = sizes[sizes < 5].index
    assert len(split.train[split.train["user_id"].isin(short)]) == int(sizes[short].sum())
