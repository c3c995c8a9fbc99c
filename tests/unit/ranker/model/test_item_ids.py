"""The item table's compact ids and titles (ranker.model.item_ids): every lookup as the id -> row dict gave it."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ranker.model import item_ids
from ranker.model.item_ids import ItemIds, StringBlock
from ranker.model.item_vectors import ItemVectors


@pytest.fixture(autouse=True, params=["dict", "sorted-hash"])
def lookup(request, monkeypatch) -> str:
    """Every test twice: with the small catalog's id -> row dict, and with the sorted hash alone (a large catalog)."""
    if request.param == "sorted-hash":
        monkeypatch.setattr(item_ids, "DICT_LIMIT", 0)
    return request.param


class _Colliding(str):
    """A str whose hash is the same for every value: forces the lookup's shared-hash path."""

    def __hash__(self) -> int:
        return 7


def _dict_rows(ids: list[str], wanted: list) -> list[int]:
    row = {item: n for n, item in enumerate(ids)}
    return [row.get(i, -1) for i in wanted]


def test_rows_of_known_and_unknown_ids_in_the_order_asked(lookup) -> None:
    ids = [f"P{i:05d}" for i in range(5000)][::-1]  # table order is not sorted order
    table = ItemIds(ids)
    assert (table._dict is None) == (lookup == "sorted-hash")  # the path this run tests
    rng = np.random.default_rng(0)
    wanted = [ids[j] for j in rng.integers(0, len(ids), 300)] + ["nope", "", "P99999", "p00001", ids[0], ids[0]]
    wanted = [wanted[j] for j in rng.permutation(len(wanted))]
    rows = table.rows(wanted)
    assert rows.dtype == np.int64 and rows.shape == (len(wanted),)
    assert rows.tolist() == _dict_rows(ids, wanted)
    assert table.rows([]).shape == (0,)
    assert table.row(ids[17]) == 17 and table.row("nope") is None
    assert ids[3] in table and "nope" not in table and 3 not in table
    assert table.rows([3, None, ids[1]]).tolist() == [-1, -1, 1]  # not strings: unknown, as the dict said


def test_ids_read_back_as_given() -> None:
    ids = ["85123A", "ünïcödé-ß", "😀 emoji", "", "a\x00b", "lone \ud800 surrogate", "x" * 3000]
    table = ItemIds(ids)
    assert list(table) == ids and table == ids and len(table) == len(ids)
    assert [table[i] for i in range(len(ids))] == ids and table[-1] == ids[-1] and table[np.int64(1)] == ids[1]
    assert table[1:3] == ids[1:3] and [*table, "new"] == [*ids, "new"]
    assert table.take(np.array([6, 1, 1, 0])) == [ids[6], ids[1], ids[1], ids[0]] and table.take([]) == []
    with pytest.raises(IndexError):
        table.take([0, -1])
    assert table.rows(ids).tolist() == list(range(len(ids)))
    with pytest.raises(IndexError):
        table[len(ids)]


def test_repeated_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        ItemIds(["a", "b", "a"])
    with pytest.raises(ValueError, match="unique"):
        ItemVectors.from_arrays(["a", "a"], np.ones((2, 3), dtype=np.float32))


def test_ids_sharing_a_hash_are_still_told_apart() -> None:
    ids = [_Colliding("a"), "plain", _Colliding("b"), _Colliding("c")]
    table = ItemIds(ids)
    wanted = [_Colliding("c"), _Colliding("a"), _Colliding("zz"), "plain", _Colliding("b")]
    assert table.rows(wanted).tolist() == [3, 0, -1, 1, 2]
    with pytest.raises(ValueError, match="unique"):
        ItemIds([_Colliding("a"), _Colliding("b"), _Colliding("a")])


def test_empty_table() -> None:
    table = ItemIds([])
    assert len(table) == 0 and table.rows(["a", "b"]).tolist() == [-1, -1] and list(table) == []


def test_a_pickled_table_finds_its_ids() -> None:
    ids = [f"item-{i}" for i in range(100)]
    table = pickle.loads(pickle.dumps(ItemIds(ids)))
    assert table.rows(["item-42", "x", "item-0"]).tolist() == [42, -1, 0] and table == ids
    titles = pickle.loads(pickle.dumps(StringBlock(["a", "b"])))
    assert titles == ["a", "b"]


def test_compact_beside_a_list_and_dict() -> None:
    ids = [f"P{i:07d}" for i in range(20_000)]
    # 8 bytes of text an id: the block, 4 bytes of offset, 8 of hash and 4 of row each; a list with its strings
    # and an id -> row dict held ~130 bytes an id.
    assert ItemIds(ids).nbytes <= 25 * len(ids)
    assert StringBlock(["a title"] * 1000).nbytes <= 12 * 1000


def test_item_vectors_lookups_titles_and_flags() -> None:
    ids = [f"i{i}" for i in range(50)]
    vectors = np.arange(50 * 4, dtype=np.float32).reshape(50, 4)
    items = ItemVectors.from_arrays(ids, vectors, [f"title {i}" for i in range(50)],
                                    recommendable=[i % 7 != 3 for i in range(50)])  # fmt: skip
    got, known = items.get(["i5", "missing", "i49"])
    assert known.tolist() == [True, False, True]
    assert np.array_equal(got, np.stack([vectors[5], np.zeros(4, np.float32), vectors[49]]))
    assert items.title("i12") == "title 12" and items.title("missing") == ""
    assert items.row("i30") == 30 and items.row("missing") is None and "i2" in items and "zz" not in items
    assert items.unrecommendable(["i3", "i10", "i4", "missing"]) == {"i3", "i10"}
    assert items.ids == ids and list(items.titles) == [f"title {i}" for i in range(50)]
    with pytest.raises(ValueError, match="titles"):
        ItemVectors.from_arrays(ids, vectors, ["one"])


def test_cooccurrence_aligned_through_the_lookup_as_through_a_dict() -> None:
    from ranker.model.cooccurrence import CoOccurrence

    rng = np.random.default_rng(2)
    vocabulary = [f"v{i}" for i in range(300)]  # the training data's items: some are not in the table
    lines = rng.integers(0, len(vocabulary), 3000)
    cooc = CoOccurrence.fit(rng.integers(0, 400, len(lines)), [vocabulary[i] for i in lines])
    table = [f"v{i}" for i in range(100, 400)][::-1]  # the live catalog, in another order
    compact, plain = cooc.aligned(ItemIds(table)), cooc.aligned(table)
    assert compact.nnz > 0 and compact.shape == plain.shape and (compact != plain).nnz == 0
