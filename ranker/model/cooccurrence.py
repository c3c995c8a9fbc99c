"""Item-to-item co-occurrence ("bought together"): how many baskets hold both items, kept for the top neighbours.

Built from the training events at training time, shipped in the checkpoint (keyed by item id, so it survives a
rebuilt index), and aligned with an item table's rows for scoring. Per user and candidate the ranker's ``cooc``
features sum the counts between the candidate and each history item (:func:`history_sums`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from core.ranges import range_positions
from ranker.model.item_ids import ItemIds

#: Largest aligned table (cells) also kept dense, as float16 (16M cells: 32 MB, a catalog of 4,000 items).
DENSE_LIMIT = 16_000_000
#: Largest history x items (cells) copied row by row out of the dense table for one request.
ROW_GATHER_LIMIT = 2_000_000
#: Pairs (before pruning) counted at once: a large catalog's table is made a block of item rows at a time.
PAIR_BLOCK = 50_000_000
#: Largest (user, candidate item) slot table of one sparse sum (cells; 16 MB of int32): a larger batch is summed
#: in halves of its users.
SLOT_LIMIT = 4_000_000
#: Neighbours kept per item: enough for every candidate a reranker sees; bounds the checkpoint (N x 200 pairs).
DEFAULT_NEIGHBOURS = 200


@dataclass
class CoOccurrence:
    """Pair counts over a vocabulary of item ids, as a CSR matrix (row item -> its top neighbours)."""

    ids: list[str]
    matrix: sparse.csr_matrix  # (V, V) float32, symmetric up to pruning, zero diagonal

    @classmethod
    def fit(cls, baskets: np.ndarray, items: list[str] | np.ndarray, neighbours: int = DEFAULT_NEIGHBOURS):
        """``baskets``: a basket key per event (any hashable ints), ``items``: the item id of each event."""
        items = np.asarray(items, dtype=object)
        if len(items) == 0:
            return cls.empty()
        ids, item_idx = np.unique(items.astype(str), return_inverse=True)
        return cls([str(i) for i in ids], _pair_counts(baskets, item_idx, len(ids), neighbours))

    @classmethod
    def fit_rows(cls, baskets: np.ndarray, rows: np.ndarray, ids: list[str], neighbours: int = DEFAULT_NEIGHBOURS):
        """As :meth:`fit`, with each event's item given as its row in ``ids`` (an item table): no id string per
        event is ever made (20M events: ~1 GB of strings and a string sort spared). The same result as :meth:`fit`
        on ``ids[rows]``."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return cls.empty()
        present = np.unique(rows)
        names = np.array([ids[r] for r in present], dtype=str)
        order = np.argsort(names, kind="stable")  # the vocabulary in id order, as np.unique of the strings gives
        position = np.empty(len(present), dtype=np.int64)
        position[order] = np.arange(len(present))
        item_idx = position[np.searchsorted(present, rows)]
        return cls([str(i) for i in names[order]], _pair_counts(baskets, item_idx, len(present), neighbours))

    @classmethod
    def empty(cls) -> CoOccurrence:
        return cls([], sparse.csr_matrix((0, 0), dtype=np.float32))

    def to_dict(self) -> dict:
        m = self.matrix
        return {"ids": [str(i) for i in self.ids], "indptr": m.indptr.tolist(), "indices": m.indices.tolist(),
                "counts": m.data.tolist()}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict | None) -> CoOccurrence:
        if not d or not d.get("ids"):
            return cls.empty()
        n = len(d["ids"])
        m = sparse.csr_matrix(
            (np.asarray(d["counts"], dtype=np.float32), np.asarray(d["indices"]), np.asarray(d["indptr"])),
            shape=(n, n),
        )
        return cls(list(d["ids"]), m)

    def aligned(self, ids: Sequence[str]) -> sparse.csr_matrix:
        """The counts between the rows of an item table (``ids``: a list, or the table's :class:`ItemIds`), plus a
        last all-zero row/column for unknown items (row -1): (N + 1, N + 1) CSR."""
        n = len(ids)
        if not self.ids:
            return sparse.csr_matrix((n + 1, n + 1), dtype=np.float32)
        if isinstance(ids, ItemIds):  # its own lookup: no id -> row dict of the whole catalog while loading
            to_row = ids.rows(list(self.ids))
            to_row[to_row < 0] = n
        else:
            position = {item: r for r, item in enumerate(ids)}
            to_row = np.array([position.get(i, n) for i in self.ids], dtype=np.int64)  # vocabulary -> table row
        coo = self.matrix.tocoo()
        rows, cols = to_row[coo.row], to_row[coo.col]
        keep = (rows < n) & (cols < n)
        return sparse.csr_matrix((coo.data[keep], (rows[keep], cols[keep])), shape=(n + 1, n + 1), dtype=np.float32)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CoOccurrence)
            and self.ids == other.ids
            and self.matrix.shape == other.matrix.shape
            and (self.matrix != other.matrix).nnz == 0
        )


def _pair_counts(baskets: np.ndarray, item_idx: np.ndarray, n_items: int, neighbours: int) -> sparse.csr_matrix:
    """(V, V) counts of baskets holding both items, the top ``neighbours`` of each row kept.

    Item x item products of a large catalog are computed a block of rows at a time, each block pruned to its top
    neighbours before the next is made: memory is bounded by :data:`PAIR_BLOCK` pairs and the kept table, never
    the whole unpruned product (rows are independent, so the result is the one product's)."""
    _, basket_idx = np.unique(np.asarray(baskets), return_inverse=True)
    b = sparse.csr_matrix(
        (np.ones(len(item_idx), dtype=np.float32), (basket_idx, item_idx)),
        shape=(int(basket_idx.max()) + 1, n_items),
    )
    b.data[:] = 1.0  # an item twice in one basket counts once
    bt = b.T.tocsr()  # item -> its baskets
    # Pairs each item's row is made of: the sizes of its baskets added up.
    work = np.bincount(np.repeat(np.arange(n_items), np.diff(bt.indptr)), weights=np.diff(b.indptr)[bt.indices],
                       minlength=n_items)  # fmt: skip
    bounds = _blocks(np.cumsum(work), PAIR_BLOCK)
    if len(bounds) == 2:  # one block: the whole product at once
        co = (b.T @ b).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        return _top_per_row(co, neighbours)
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        part = (bt[lo:hi] @ b).tocoo()
        own = part.row + lo == part.col  # an item with itself
        part = sparse.csr_matrix((part.data[~own], (part.row[~own], part.col[~own])), shape=(hi - lo, n_items))
        parts.append(_top_per_row(part, neighbours))
    return sparse.vstack(parts, format="csr")


def _blocks(cumulative: np.ndarray, limit: int) -> np.ndarray:
    """Row bounds [0, ..., n] cutting rows of the given cumulative work into blocks of about ``limit`` each (a row
    larger than ``limit`` is a block of its own)."""
    n = len(cumulative)
    bounds = [0]
    while bounds[-1] < n:
        done = cumulative[bounds[-1] - 1] if bounds[-1] else 0.0
        nxt = int(np.searchsorted(cumulative, done + limit, side="right"))
        bounds.append(min(n, max(nxt, bounds[-1] + 1)))
    return np.asarray(bounds)


def _top_per_row(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the ``k`` largest entries of each row."""
    m = m.tocsr().astype(np.float32)
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        m.sort_indices()
        return m
    keep = np.zeros(m.nnz, dtype=bool)
    for r in np.flatnonzero(counts):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        if hi - lo <= k:
            keep[lo:hi] = True
        else:
            keep[lo + np.argpartition(-m.data[lo:hi], k - 1)[:k]] = True
    rows = np.repeat(np.arange(m.shape[0]), counts)
    out = sparse.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    out.sort_indices()
    return out


def dense_table(matrix: sparse.csr_matrix, limit: int = DENSE_LIMIT) -> np.ndarray | None:
    """The aligned counts as a dense float16 array when it has at most ``limit`` cells (else None)."""
    n = matrix.shape[0]
    if n * n > limit or matrix.nnz == 0:
        return None
    return matrix.toarray().astype(np.float16)


def history_sums(
    matrix: sparse.csr_matrix,
    hist_rows: np.ndarray,
    weights: np.ndarray,
    cand_rows: np.ndarray,
    dense: np.ndarray | None = None,
) -> np.ndarray:
    """For each user b and candidate c: sum over h of weights[b, h] * matrix[hist_rows[b, h], cand_rows[b, c]].

    matrix: aligned (N + 1, N + 1) CSR (row -1 = unknown); hist_rows: (B, H); weights: (B, H) (weight 0 =
    padding) or (K, B, H) for K weightings of the same history at once; cand_rows: (B, C); ``dense``: the same
    counts from :func:`dense_table`, used when given. Returns (B, C) float32, or (K, B, C) for stacked weights.
    """
    stacked = weights.ndim == 3
    weights = weights if stacked else weights[None]
    k = weights.shape[0]
    b, h = hist_rows.shape
    n = matrix.shape[0]
    if b == 0 or h == 0 or matrix.nnz == 0:
        out = np.zeros((k, *cand_rows.shape), dtype=np.float32)
        return out if stacked else out[0]
    cand = cand_rows % n
    if dense is not None:
        rows = hist_rows % n
        # Whole rows first for a batch (sequential reads, then a gather in cache: 2x faster); one user's few cells
        # straight (a row copy there costs more than the reads it saves: 50 vs 88 us for 50 x 100 of 3.9k items).
        if b > 1 and b * h * n <= ROW_GATHER_LIMIT:
            block = np.take_along_axis(dense[rows], cand[:, None, :], axis=2).astype(np.float32)  # (B, H, C)
        else:
            block = dense[rows[:, :, None], cand[:, None, :]].astype(np.float32)  # (B, H, C)
        out = np.einsum("kbh,bhc->kbc", weights.astype(np.float32), block)
    else:
        out = _sums_from_rows(matrix, hist_rows % n, weights, cand)
    return out if stacked else out[0]


def _sums_from_rows(matrix: sparse.csr_matrix, rows: np.ndarray, weights: np.ndarray, cand: np.ndarray):
    """Gather the history rows' neighbours straight from the CSR arrays, keep those that are one of the user's
    candidates, and add them up with bincount: memory bounded by the entries read, whatever the catalog size.

    Each entry read is matched to its (user, candidate) by two array lookups, not a search: the batch's distinct
    candidate items get a compact number, and a (user, number) table holds each candidate's slot. A co-occurrence
    table that fills up (more neighbours per item as a shop's events grow) makes more entries to read, so the cost
    per entry is what keeps a training step flat (docs/scaling.md)."""
    k, (b, h), n = weights.shape[0], rows.shape, matrix.shape[0]
    items, compact = np.unique(cand, return_inverse=True)
    if b > 1 and b * len(items) > SLOT_LIMIT:  # many users with many distinct candidates (an evaluation's batch)
        half = b // 2
        return np.concatenate([
            _sums_from_rows(matrix, rows[:half], weights[:, :half], cand[:half]),
            _sums_from_rows(matrix, rows[half:], weights[:, half:], cand[half:]),
        ], axis=1)  # fmt: skip
    rows, w = rows.ravel(), weights.reshape(k, b * h).astype(np.float32)
    keep = (w != 0).any(axis=0)
    rows, w, user = rows[keep], w[:, keep], np.repeat(np.arange(b, dtype=np.int32), h)[keep]
    starts, lengths = matrix.indptr[rows], matrix.indptr[rows + 1] - matrix.indptr[rows]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros((k, *cand.shape), dtype=np.float32)
    offsets = range_positions(starts, lengths)
    compact = compact.reshape(cand.shape).astype(np.int32)
    number = _compact_numbers(items, matrix.indices[offsets], n, total)  # -1: no candidate of the batch
    found = np.flatnonzero(number >= 0)
    slots = np.full((b, len(items)), -1, dtype=np.int32)
    slots[np.arange(b)[:, None], compact] = np.arange(cand.size, dtype=np.int32).reshape(cand.shape)
    entry = np.repeat(np.arange(len(rows), dtype=np.int32), lengths)[found]
    slot = slots.ravel()[user[entry] * len(items) + number[found]]  # -1: a candidate of another user only
    hit = slot >= 0
    slot, entry, counts = slot[hit], entry[hit], matrix.data[offsets[found[hit]]]
    # A candidate listed twice for a user owns the slot written last: every (b, c) reads its sum through it.
    read = slots[np.arange(b)[:, None], compact].ravel()
    return np.stack([
        np.bincount(slot, weights=counts * wk[entry], minlength=cand.size)[read].reshape(cand.shape) for wk in w
    ]).astype(np.float32)  # fmt: skip


def _compact_numbers(items: np.ndarray, neighbours: np.ndarray, n: int, total: int) -> np.ndarray:
    """Each neighbour's position in the sorted ``items``, -1 for one not among them: by a table over the whole
    catalog when reading it costs less than the entries (a training batch), else by a search (one served user of
    a large catalog, where a table of ``n`` would cost more than the few entries it answers)."""
    if n <= 4 * total:
        table = np.full(n, -1, dtype=np.int32)
        table[items] = np.arange(len(items), dtype=np.int32)
        return table[neighbours]
    pos = np.minimum(np.searchsorted(items, neighbours), len(items) - 1).astype(np.int32)
    return np.where(items[pos] == neighbours, pos, -1)
