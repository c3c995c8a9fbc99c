"""The statistics of the experiment report: a win rate's Wilson interval and two-sided sign test (interleaving),
the bootstrap interval and p-value of a difference of means (A/B), and when a run became significant.

scipy (already a dependency of the product through scikit-learn) gives the exact binomial test and Welch's t-test;
the Wilson interval and the bootstrap are a few lines of numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def wilson(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` at confidence ``1 - alpha`` ((0, 1) for n = 0)."""
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test(wins: int, losses: int) -> float:
    """The two-sided exact sign test of ``wins`` against ``losses`` (ties left out): the p-value of a win rate this
    far from one half when neither side is better (1.0 with no decided comparison)."""
    if wins + losses == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(wins, wins + losses, 0.5).pvalue)


@dataclass(frozen=True)
class Difference:
    """``treatment - control`` of two means, its bootstrap interval and two-sided bootstrap p-value."""

    control: float
    treatment: float
    difference: float
    low: float
    high: float
    p_value: float


def bootstrap_difference(control: Sequence[float], treatment: Sequence[float], *, samples: int = 2000,
                         alpha: float = 0.05, seed: int = 0) -> Difference:  # fmt: skip
    """Resample each arm with replacement ``samples`` times: the percentile interval of the difference of means, and
    the p-value as twice the smaller share of resampled differences on either side of zero (at least 1/samples)."""
    a, b = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    if len(a) == 0 or len(b) == 0:
        return Difference(float(a.mean()) if len(a) else 0.0, float(b.mean()) if len(b) else 0.0, 0.0, 0.0, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    resampled_b = b[rng.integers(0, len(b), (samples, len(b)))].mean(1)
    diffs = resampled_b - a[rng.integers(0, len(a), (samples, len(a)))].mean(1)
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    below, above = float((diffs <= 0).mean()), float((diffs >= 0).mean())
    p = min(1.0, max(2 * min(below, above), 1 / samples))
    if b.std() == 0 and a.std() == 0 and a.mean() == b.mean():
        p = 1.0  # no variation at all: no evidence either way
    return Difference(float(a.mean()), float(b.mean()), float(b.mean() - a.mean()), float(low), float(high), p)


def welch_p(control: Sequence[float], treatment: Sequence[float]) -> float:
    """Welch's two-sided t-test p-value (the cheap test of the A/B curve's many points; 1.0 when undefined)."""
    a, b = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    if len(a) < 2 or len(b) < 2 or (a.std() == 0 and b.std() == 0):
        return 1.0
    import warnings

    from scipy.stats import ttest_ind

    with warnings.catch_warnings():  # one arm without variation (all 0 early on): the test still answers
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_ind(b, a, equal_var=False).pvalue)
    return 1.0 if math.isnan(p) else p


def significant_from(points: Sequence[tuple[int, float]], alpha: float) -> int | None:
    """The first count of impressions from which every later point's p-value stays below ``alpha`` (the run's end
    included), or None when the last one is not below it. ``points``: (impressions, p-value), in order."""
    found = None
    for n, p in points:
        found = (n if found is None else found) if p < alpha else None
    return found
