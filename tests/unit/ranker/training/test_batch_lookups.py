"""A batch's lookups in the training events: the trend feature's counts, what a user bought from a basket on."""

from __future__ import annotations

import numpy as np

from ranker.model import TREND_DAYS
from ranker.training.examples import NextItemData


def _data(rows: np.ndarray, days: np.ndarray, target: np.ndarray) -> NextItemData:
    none = np.zeros(0, dtype=np.int64)
    return NextItemData(
        item_rows=rows, types=np.zeros(len(rows), dtype=np.int64), days=days, user_start=none, hist_end=none,
        target=none, target_day=np.zeros(0), cutoff_day=0.0, basket_end=none, horizon_end=none,
        basket=np.arange(len(rows)), event_user=np.zeros(len(rows), dtype=np.int64), target_event=target,
    )  # fmt: skip


def test_trend_counts_match_a_count_over_every_event():
    rng = np.random.default_rng(2)
    rows, days = rng.integers(0, 40, size=5_000), rng.random(5_000) * 200
    target = rng.random(5_000) < 0.6
    data = _data(rows, days, target)
    cand = rng.integers(-1, 45, size=(30, 12))  # rows past the events' items and -1 (unknown) among them
    at = rng.random(30) * 220
    got = data.trend_counts(cand, at)
    expected = np.array([
        [0 if c < 0 else np.sum(target & (rows == c) & (days < at[b]) & (days >= at[b] - TREND_DAYS)) for c in cand[b]]
        for b in range(30)
    ])  # fmt: skip
    assert got.shape == cand.shape and got.dtype == np.float32 and expected.sum() > 100
    np.testing.assert_array_equal(got, expected)


def test_bought_from_basket_matches_a_check_per_example():
    rng = np.random.default_rng(4)
    rows = rng.integers(0, 30, size=2_000)
    data = _data(rows, np.sort(rng.random(2_000)), np.ones(2_000, dtype=bool))
    data.hist_end = rng.integers(0, 1_990, size=50)
    ends = data.hist_end + rng.integers(0, 10, size=50)  # some examples buy nothing from the basket on
    ex = rng.permutation(50)[:20]
    cand = rng.integers(-1, 32, size=(20, 15))
    got = data.bought_from_basket(ex, cand, ends)
    expected = np.stack([np.isin(cand[i], rows[data.hist_end[x] : ends[x]]) for i, x in enumerate(ex)])
    assert got.any() and not got.all()
    np.testing.assert_array_equal(got, expected)
