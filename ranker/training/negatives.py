"""Negatives for next-item training and validation: uniform ones, and hard ones like those a reranker meets.

A reranker ranks candidates that retrieval already found relevant: the user's own past items and what is bought
with them. Uniform negatives alone teach the model to tell a plausible item from a random one; hard negatives
teach it the order among plausible ones (which past item is bought again, which companion is bought next).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ranker.model import history_sums
from ranker.training.examples import NextItemData, feature_history


def sample_negatives(rng: np.random.Generator, n_items: int, positives: np.ndarray, k: int) -> np.ndarray:
    """(B, k) item rows drawn uniformly, redrawn where they hit the row's positive (catalogs of >1 item)."""
    neg = rng.integers(0, n_items, size=(len(positives), k))
    if n_items > 1:
        for _ in range(10):
            hit = neg == positives[:, None]
            if not hit.any():
                break
            neg[hit] = rng.integers(0, n_items, size=int(hit.sum()))
    return neg


def sample_hard(
    rng: np.random.Generator,
    data: NextItemData,
    ex: np.ndarray,
    cooc: sparse.csr_matrix,
    k: int,
    window: int,
    recent: int = 10,
) -> np.ndarray:
    """(B, k) item rows: half the user's own past items (from the ``window`` newest history events), half
    co-occurrence neighbours (a random neighbour of one of the ``recent`` newest history items; ``cooc`` aligned
    with the item rows, :meth:`ranker.model.cooccurrence.CoOccurrence.aligned`). Slots without a source fall back to
    uniform draws. Whether a draw was bought in the example's basket is
    :func:`ranker.training.examples.in_basket`'s job."""
    b = len(ex)
    n_items = int(cooc.shape[0]) - 1  # the last row is the unknown item
    out = rng.integers(0, max(n_items, 1), size=(b, k))
    if b == 0 or k == 0:
        return out
    rows, mask, _ = feature_history(data, ex, window)  # oldest .. newest, the real events at the end
    n_hist = mask.sum(axis=1)
    users = np.flatnonzero(n_hist)
    if not len(users):
        return out
    own, width, n = k // 2, rows.shape[1], n_hist[users, None]
    # Drawn for every user of the batch at once (a loop per user cost more than the rest of a batch's sampling).
    out[users, :own] = rows[users[:, None], width - n + rng.integers(0, n, size=(len(users), own))]
    if cooc.nnz:
        newest = rows[users[:, None], width - 1 - rng.integers(0, np.minimum(recent, n), size=(len(users), k - own))]
        lo, hi = cooc.indptr[newest], cooc.indptr[newest + 1]
        pick = cooc.indices[np.minimum(lo + rng.integers(0, np.maximum(hi - lo, 1)), cooc.nnz - 1)]
        out[users, own:] = np.where(hi > lo, pick, out[users, own:])
    return out


def neighbour_steps(cooc: sparse.csr_matrix) -> sparse.csr_matrix:
    """The co-occurrence table as one random step: row r spreads 1 evenly over r's neighbours (what
    :func:`sample_hard` draws from a history item)."""
    adjacency = cooc.copy().astype(np.float32)
    adjacency.data[:] = 1.0
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (sparse.diags(1.0 / np.maximum(degree, 1.0)) @ adjacency).tocsr()


def hard_draw_rates(
    data: NextItemData,
    ex: np.ndarray,
    cand: np.ndarray,
    steps: sparse.csr_matrix,
    k: int,
    window: int,
    recent: int = 10,
) -> np.ndarray:
    """(B, C): how many times :func:`sample_hard` is expected to draw each candidate for example b.

    The sampled softmax subtracts log(expected draws) from every candidate (logQ correction); without the hard
    draws in it, the user's own items, drawn as negatives far more often than chance, would be learnt as worse
    than they are. ``steps``: :func:`neighbour_steps` of the aligned co-occurrence table.
    """
    rows, mask, _ = feature_history(data, ex, window)  # oldest .. newest
    n_hist = mask.sum(axis=1)
    own = k // 2
    same = (cand[:, :, None] == rows[:, None, :]) & mask[:, None, :]
    rates = own * same.sum(axis=-1) / np.maximum(n_hist, 1)[:, None]
    m = np.minimum(recent, n_hist)
    from_newest = np.arange(rows.shape[1])[::-1]
    weights = (mask & (from_newest[None, :] < m[:, None])) / np.maximum(m, 1)[:, None]
    rates += (k - own) * history_sums(steps, rows, weights.astype(np.float32), cand)
    return rates.astype(np.float32)
