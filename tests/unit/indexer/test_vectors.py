"""Bring your own vectors: the catalog's vector column is read in every format, checked before anything is
written, and enters the document hash; a build uses the given vectors instead of embedding."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.errors import CatalogError, ModelError
from indexer.build import BuildResult, document_actions, item_document
from indexer.catalog import Item, VectorColumn, read_catalog
from indexer.vectors import CatalogVectors, catalog_space, is_catalog_space, parse_vector
from tests.fakes.embedder import HashEmbedder


@pytest.mark.parametrize(
    "cell",
    [[0.5, -1, 2], "[0.5, -1, 2]", "0.5 -1 2", "0.5,-1,2", " 0.5, -1 ,2 ", np.array([0.5, -1, 2], dtype=np.float64)],
)
def test_a_vector_cell_in_any_spelling(cell):
    np.testing.assert_array_equal(parse_vector(cell), np.array([0.5, -1, 2], dtype=np.float32))
    assert parse_vector(cell).dtype == np.float32


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("[1, NaN, 2]", "not a JSON array|not a finite number"),
        ([1.0, float("nan")], "value 1 is not a finite number"),
        ("1 inf 2", "value 1 is not a finite number"),
        ([0, 0, 0], "all zeros"),
        ("1 two 3", "not a number in the vector: 'two'"),
        ("[1, 2", "not a JSON array"),
        ({"a": 1}, "not a list of numbers"),
    ],
)
def test_a_bad_vector_cell_says_what_is_wrong(cell, reason):
    with pytest.raises(ValueError, match=reason):
        parse_vector(cell)


def test_an_empty_cell_is_no_vector():
    assert parse_vector("") is None and parse_vector(None) is None and parse_vector([]) is None


def _jsonl(path, vectors):
    path.write_text(
        "".join(json.dumps({"id": str(i), "title": f"item {i}", "emb": v}) + "\n" for i, v in enumerate(vectors))
    )
    return path


def test_vectors_read_from_jsonl_csv_and_parquet(tmp_path):
    vectors = [[1.0, 0.0, 0.5], [0.0, 2.0, 0.25]]
    jsonl = _jsonl(tmp_path / "c.jsonl", vectors)
    csv = tmp_path / "c.csv"
    csv.write_text('id,title,emb\n0,item 0,"[1, 0, 0.5]"\n1,item 1,0 2 0.25\n')
    parquet = tmp_path / "c.parquet"
    pd.DataFrame({"id": ["0", "1"], "title": ["item 0", "item 1"], "emb": vectors}).to_parquet(parquet)
    for path in (jsonl, csv, parquet):
        read = read_catalog(path, vectors=VectorColumn("emb"))
        got = [it.vector.tolist() for it in read.items]
        assert got == vectors, path


def test_a_row_of_another_dimension_stops_the_read_naming_file_line_and_column(tmp_path):
    path = _jsonl(tmp_path / "c.jsonl", [[1, 0, 0], [0, 1, 0], [0, 1], [1, 1, 1]])
    with pytest.raises(CatalogError) as e:
        read_catalog(path, vectors=VectorColumn("emb"))
    assert str(e.value).startswith(f"{path}:3: field 'emb': vector has 2 numbers, expected 3 (line 1's dimension)")
    assert "\n" not in str(e.value)
    with pytest.raises(CatalogError, match=r":1: field 'emb': vector has 3 numbers, expected 4 \(the index's"):
        read_catalog(path, vectors=VectorColumn("emb", 4, "the index's"))


def test_non_finite_missing_and_absent_vectors_stop_the_read(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1", "title": "a", "emb": [1, 2]}\n{"id": "2", "title": "b", "emb": "1 nan"}\n')
    with pytest.raises(CatalogError, match=r"c.jsonl:2: field 'emb': bad vector: value 1 is not a finite number"):
        read_catalog(path, vectors=VectorColumn("emb"))
    path.write_text('{"id": "1", "title": "a", "emb": [1, 2]}\n{"id": "2", "title": "b"}\n')
    with pytest.raises(CatalogError, match=r":2: field 'emb': missing vector, and no vector model"):
        read_catalog(path, vectors=VectorColumn("emb"))
    read = read_catalog(path, vectors=VectorColumn("emb", required=False))  # a vector model embeds item 2
    assert read.items[1].vector is None
    with pytest.raises(CatalogError, match=r":1: field 'vec': vector column 'vec' not found \(columns: emb, id"):
        read_catalog(path, vectors=VectorColumn("vec"))


def test_the_doc_hash_holds_the_given_vector():
    plain = Item("1", "mug")
    a = Item("1", "mug", vector=np.array([1, 0], dtype=np.float32))
    same = Item("1", "mug", vector=np.array([1, 0], dtype=np.float32))
    moved = Item("1", "mug", vector=np.array([1, 1e-6], dtype=np.float32))
    h = [item_document(it, None, None, "catalog:v")["doc_hash"] for it in (plain, a, same, moved)]
    assert h[1] == h[2] and len({h[0], h[1], h[3]}) == 3
    # an item without a vector hashes as before (existing indexes keep their hashes)
    assert (
        item_document(plain, None, None, "m")["doc_hash"]
        == item_document(Item("1", "mug"), None, None, "m")["doc_hash"]
    )


class CountingEmbedder(HashEmbedder):
    def __init__(self, dimension=2):
        super().__init__(dimension)
        self.texts = 0

    def encode(self, texts, batch_size=None):
        self.texts += len(texts)
        return super().encode(texts, batch_size)


def test_a_build_writes_given_vectors_and_embeds_only_items_without_one():
    model = CountingEmbedder()
    items = [Item("1", "mug", vector=np.array([0.6, 0.8], dtype=np.float32)), Item("2", "bowl")]
    result = BuildResult("v", None, 0)
    actions = list(document_actions(None, items, {}, CatalogVectors("emb", 2, model), "v", result=result))
    assert actions[0]["_source"]["vector"] == pytest.approx([0.6, 0.8])
    assert actions[1]["_source"]["vector"] == pytest.approx(model.encode(["bowl"])[0].tolist())
    assert (result.given, result.embedded, result.reused) == (1, 1, 0) and model.texts == 2  # 1 + the check above


def test_without_a_vector_model_nothing_is_embedded_and_the_space_is_the_column():
    space = CatalogVectors("emb", 2)
    assert space.name == catalog_space("emb") and is_catalog_space(space.name) and not is_catalog_space("package:x")
    with pytest.raises(ModelError, match="no vector in column 'emb' and no vector model"):
        space.encode(["mug"])
    items = [Item("1", "mug", vector=np.array([0.6, 0.8], dtype=np.float32))]
    result = BuildResult("v", None, 0)
    assert len(list(document_actions(None, items, {}, space, "v", result=result))) == 1 and result.given == 1
