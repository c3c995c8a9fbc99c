"""Item vectors loaded from the live index of the real node."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from core.errors import IndexMissing
from indexer import api
from ranker.model.item_vectors import ItemVectors
from tests.fakes.embedder import HashEmbedder

pytestmark = pytest.mark.integration


def test_vectors_titles_and_prices_come_from_the_live_version_page_by_page(settings, fake_embedder, tmp_path):
    catalog = tmp_path / "items.jsonl"
    catalog.write_text(
        "".join(f'{{"id": "{i}", "title": "item number {i}", "price": {i}.5}}\n' for i in range(7))
        + '{"id": "x", "title": "no price"}\n'
    )
    first = api.build_from_catalog(settings, catalog, embedder=fake_embedder).result
    items = ItemVectors.from_index(settings, page_size=3)  # three pages
    assert sorted(items.ids) == ["0", "1", "2", "3", "4", "5", "6", "x"] and items.source == first.index
    vecs, known = items.get(["3", "nope"])
    assert known.tolist() == [True, False]
    assert np.allclose(vecs[0], fake_embedder.encode(["item number 3"])[0], atol=1e-6)
    assert items.title("3") == "item number 3" and items.prices[items.row("3")] == 3.5
    assert np.isnan(items.prices[items.row("x")])
    # Loading must leave the index readable (a scroll over a k-NN index with derived source breaks later reads).
    assert len(ItemVectors.from_index(settings)) == 8
    catalog.write_text('{"id": "9", "title": "new item"}\n')
    second = api.build_from_catalog(settings, catalog, embedder=fake_embedder, allow_shrink=True).result
    moved = ItemVectors.from_index(settings)
    assert moved.source == second.index and moved.ids == ["9"]


def test_no_index_is_a_clear_error(settings):
    with pytest.raises(IndexMissing, match="does not exist"):
        ItemVectors.from_index(settings)


def test_loading_holds_one_page_of_python_floats_at_most(settings, tmp_path):
    """The table is filled page by page into one float32 array, never built as Python float lists first (those take
    ~8x the array's bytes: a 24-byte float object and an 8-byte pointer per 4-byte value)."""
    embedder = HashEmbedder(dimension=64)
    catalog = tmp_path / "items.jsonl"
    rows = (f'{{"id": "{i}", "title": "item {i} word{i % 97} kind{i % 13}"}}\n' for i in range(4000))
    catalog.write_text("".join(rows))
    api.build_from_catalog(settings, catalog, embedder=embedder)
    tracemalloc.start()
    try:
        items = ItemVectors.from_index(settings, page_size=200)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(items) == 4000 and items.vectors.dtype == np.float32
    assert np.allclose(items.get(["17"])[0][0], embedder.encode(["item 17 word17 kind4"])[0], atol=1e-6)
    assert peak < 4 * items.vectors.nbytes
