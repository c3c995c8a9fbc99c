"""Item statistics of a realistic size for the latency benches: a seeded model costs what a trained one does only
when its checkpoint carries tables as large as training makes them (co-occurrence with 200 neighbours per item,
repeat rates, trend counts)."""

from __future__ import annotations

import numpy as np

from ranker.model.cooccurrence import CoOccurrence
from ranker.model.item_stats import ItemStats


def synthetic_stats(ids: list[str], prices, seed: int = 0, baskets: int = 20_000, lines: int = 400_000) -> ItemStats:
    """Baskets of Online Retail's shape (400k lines over 20k invoices, skewed popularity) over ``ids``."""
    rng = np.random.default_rng(seed)
    popularity = rng.zipf(1.3, size=lines) % len(ids)
    basket = rng.integers(0, baskets, size=lines)
    items = np.asarray(ids, dtype=object)[popularity]
    counts = np.bincount(popularity, minlength=len(ids))
    trend = {ids[i]: float(c) for i, c in enumerate(np.bincount(popularity[: lines // 25], minlength=len(ids))) if c}
    return ItemStats.fit(
        {ids[i]: float(c) for i, c in enumerate(counts) if c},
        np.asarray(prices, dtype=np.float64),
        CoOccurrence.fit(basket, items),
        ({i: float(r) for i, r in zip(ids, rng.uniform(0.0, 0.6, len(ids)), strict=True)}, 0.3),
        (trend, float(np.log1p(max(trend.values(), default=1.0)))),
    )
