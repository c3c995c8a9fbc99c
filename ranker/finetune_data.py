"""Training pairs for fine-tuning the embedding model on behaviour.

Two items form a positive pair when they were bought in the same basket (a user's events at one timestamp), or
in consecutive baskets of the same user at most ``gap_days`` apart. Pairs are weighted by how often they occur
those seen fewer than ``min_count`` times are dropped, and the rest are sampled in
proportion to the square root of the count, so best-seller pairs do not crowd out the rest.
Only events before ``until`` are used: a model fine-tuned this way can be evaluated on the time after it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class PairSet:
    """Item-id pairs (anchor, positive) and how many raw co-occurrences backed the sample."""

    pairs: list[tuple[str, str]]
    basket_links: int
    sequence_links: int
    candidates: int


def _basket_matrix(events: pd.DataFrame, position: dict[str, int]):
    from scipy import sparse

    baskets = events.groupby(["user_id", "ts"], sort=True).ngroup().to_numpy()
    items = events["item_id"].map(position).to_numpy()
    matrix = sparse.csr_matrix(
        (np.ones(len(items), dtype=np.float32), (baskets, items)), shape=(int(baskets.max()) + 1, len(position))
    )
    matrix.data[:] = 1.0
    return matrix


def cooccurrence_pairs(
    events: pd.DataFrame,
    items: list[str],
    *,
    until: pd.Timestamp | None = None,
    gap_days: float = 90.0,
    max_pairs: int = 50000,
    min_count: int = 1,
    seed: int = 13,
) -> PairSet:
    """Sample up to ``max_pairs`` distinct positive pairs among ``items`` from ``events`` before ``until``;
    pairs seen fewer than ``min_count`` times are left out (one shared basket is mostly chance)."""
    from scipy import sparse

    position = {item: i for i, item in enumerate(items)}
    known = events[events["item_id"].isin(position)]
    if until is not None:
        known = known[known["ts"] < until]
    known = known.sort_values(["user_id", "ts"], kind="stable")
    if known.empty:
        return PairSet([], 0, 0, 0)
    b = _basket_matrix(known, position)
    together = sparse.triu(b.T @ b, k=1).tocoo()
    # Consecutive baskets of one user: row i and row i+1 when same user and close in time.
    heads = known.drop_duplicates(["user_id", "ts"])[["user_id", "ts"]].reset_index(drop=True)
    same_user = heads["user_id"].to_numpy()[1:] == heads["user_id"].to_numpy()[:-1]
    close = (heads["ts"].diff().dt.total_seconds().to_numpy()[1:] / 86400.0) <= gap_days
    prev = np.flatnonzero(same_user & close)
    seq = (b[prev].T @ b[prev + 1]).tocoo()
    seq = sparse.coo_matrix((seq.data, (np.minimum(seq.row, seq.col), np.maximum(seq.row, seq.col))), seq.shape)
    seq = sparse.triu(seq.tocsr(), k=1).tocoo()
    weights = (sparse.coo_matrix(together).tocsr() + seq.tocsr()).tocoo()
    keep = weights.data >= min_count
    weights = sparse.coo_matrix((weights.data[keep], (weights.row[keep], weights.col[keep])), weights.shape)
    if weights.nnz == 0:
        return PairSet([], int(together.nnz), int(seq.nnz), 0)
    rng = np.random.default_rng(seed)
    p = np.sqrt(weights.data.astype(np.float64))
    n = min(max_pairs, weights.nnz)
    chosen = rng.choice(weights.nnz, size=n, replace=False, p=p / p.sum())
    pairs = []
    for i in chosen:
        a, c = items[weights.row[i]], items[weights.col[i]]
        pairs.append((a, c) if rng.random() < 0.5 else (c, a))  # MNRL is directional: mix both directions
    return PairSet(pairs, int(together.nnz), int(seq.nnz), int(weights.nnz))


def batches_without_repeats(pairs: list[tuple[str, str]], batch_size: int, seed: int = 13) -> Iterator[list[int]]:
    """Pair indices in shuffled batches (one pass over the pairs) in which no item appears twice: with in-batch
    negatives, a repeated item would be its own negative. A pair that clashes waits for the next batch."""
    rng = np.random.default_rng(seed)
    order = deque(int(i) for i in rng.permutation(len(pairs)))
    while order:
        batch: list[int] = []
        used: set[str] = set()
        waiting: list[int] = []
        while order and len(batch) < batch_size and len(waiting) < 4 * batch_size:
            i = order.popleft()
            a, b = pairs[i]
            if a in used or b in used:
                waiting.append(i)
                continue
            batch.append(i)
            used.update((a, b))
        order.extendleft(reversed(waiting))
        if len(batch) < 2:
            return  # what is left cannot form a batch with a negative
        yield batch
