"""The trend feature's training counts: an item's target events in the TREND_DAYS before each example's moment."""

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
