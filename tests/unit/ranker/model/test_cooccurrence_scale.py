"""The co-occurrence table of a large catalog: counted a block of item rows at a time (bounded memory), with the
same counts as the one product; from item rows as from id strings."""

from __future__ import annotations

import numpy as np
import pytest

from ranker.model import cooccurrence
from ranker.model.cooccurrence import CoOccurrence


def _baskets(seed: int = 0, events: int = 4000, items: int = 300):
    rng = np.random.default_rng(seed)
    baskets = rng.integers(0, events // 4, events)
    rows = np.minimum(rng.zipf(1.5, events) - 1, items - 1)  # popular items in many baskets
    ids = [f"SKU{r:05d}" for r in rng.permutation(items)]  # table order is not id order
    return baskets, rows, ids


def test_counting_in_blocks_gives_the_one_products_counts(monkeypatch):
    baskets, rows, ids = _baskets()
    items = np.asarray(ids, dtype=object)[rows]
    whole = CoOccurrence.fit(baskets, items, neighbours=10_000)
    monkeypatch.setattr(cooccurrence, "PAIR_BLOCK", 500)  # many blocks
    blocked = CoOccurrence.fit(baskets, items, neighbours=10_000)
    assert whole.matrix.nnz > 1000
    assert blocked == whole
    assert blocked.matrix.diagonal().sum() == 0  # an item is never its own neighbour


def test_blocks_keep_each_rows_top_neighbours(monkeypatch):
    baskets, rows, ids = _baskets(1)
    items = np.asarray(ids, dtype=object)[rows]
    whole = CoOccurrence.fit(baskets, items, neighbours=5)
    monkeypatch.setattr(cooccurrence, "PAIR_BLOCK", 300)
    blocked = CoOccurrence.fit(baskets, items, neighbours=5)
    assert np.diff(blocked.matrix.indptr).max() == 5
    # Ties at the fifth count may keep another neighbour; the kept counts are the same in every row.
    for r in range(blocked.matrix.shape[0]):
        a, b = whole.matrix.getrow(r).data, blocked.matrix.getrow(r).data
        assert sorted(a) == sorted(b)


def test_from_item_rows_as_from_id_strings():
    baskets, rows, ids = _baskets(2)
    by_rows = CoOccurrence.fit_rows(baskets, rows, ids)
    by_ids = CoOccurrence.fit(baskets, np.asarray(ids, dtype=object)[rows])
    assert by_rows == by_ids
    assert by_rows.ids == sorted(by_rows.ids)


@pytest.mark.parametrize("limit,expected", [(10, [0, 2, 3, 4]), (100, [0, 4]), (4, [0, 1, 2, 3, 4])])
def test_blocks_cut_rows_by_their_work(limit, expected):
    # work per row: 5, 5, 20, 1 -> cumulative 5, 10, 30, 31
    assert cooccurrence._blocks(np.cumsum([5.0, 5.0, 20.0, 1.0]), limit).tolist() == expected
