"""Paired bootstrap confidence intervals for the difference of two rankers on the same test cases.

Cases are resampled with replacement; each resample gives the mean difference (a - b). The percentile interval
of those means is the confidence interval; the difference is significant when the interval excludes zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Difference:
    """Mean of ``a - b`` over cases with its bootstrap interval, and ``a``'s relative change over ``b``."""

    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    relative: float | None
    confidence: float
    samples: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Difference:
    """The bootstrap interval of mean(a - b), ``a`` and ``b`` being per-case values of the same cases."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("paired bootstrap needs two non-empty arrays of the same cases")
    delta = a - b
    rng = np.random.default_rng(seed)
    # Resample in chunks so memory stays small for many cases and samples.
    means = []
    for start in range(0, samples, 200):
        n = min(200, samples - start)
        idx = rng.integers(0, len(delta), size=(n, len(delta)))
        means.append(delta[idx].mean(axis=1))
    boot = np.concatenate(means)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail])
    mean_b = float(b.mean())
    return Difference(
        mean_a=float(a.mean()),
        mean_b=mean_b,
        diff=float(delta.mean()),
        low=float(low),
        high=float(high),
        relative=float(delta.mean() / mean_b) if mean_b else None,
        confidence=confidence,
        samples=samples,
    )
