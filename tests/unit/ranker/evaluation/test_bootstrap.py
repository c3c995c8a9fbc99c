"""Paired bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from ranker.evaluation.bootstrap import paired_bootstrap


def test_a_clear_improvement_has_an_interval_above_zero():
    rng = np.random.default_rng(1)
    b = rng.random(500)
    a = b + 0.1 + rng.normal(0, 0.02, 500)
    d = paired_bootstrap(a, b, samples=500, seed=3)
    assert d.diff == pytest.approx(0.1, abs=0.01)
    assert 0 < d.low < d.diff < d.high
    assert d.significant
    assert d.relative == pytest.approx(d.diff / b.mean())


def test_pairing_detects_a_small_shift_that_unpaired_noise_would_hide():
    rng = np.random.default_rng(2)
    b = rng.random(300) * 10  # large spread between cases
    a = b + 0.05  # every case a little better
    assert paired_bootstrap(a, b, samples=300).low > 0


def test_no_difference_gives_an_interval_around_zero():
    rng = np.random.default_rng(4)
    a = rng.random(400)
    b = rng.permutation(a)
    d = paired_bootstrap(a, b, samples=500, seed=5)
    assert d.low < 0 < d.high and not d.significant


def test_is_reproducible_and_rejects_unpaired_input():
    a, b = np.arange(10.0), np.arange(10.0)[::-1]
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)
    with pytest.raises(ValueError):
        paired_bootstrap(np.ones(3), np.ones(4))
