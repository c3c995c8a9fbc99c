"""CatalogStream: a first pass that checks and counts, then chunked re-reads that give read_catalog's items."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.errors import CatalogError
from indexer.catalog import VectorColumn, read_catalog
from indexer.catalog_stream import CatalogStream


def _rows(n: int = 25) -> list[dict]:
    rng = np.random.default_rng(1)
    return [{"id": f"i{k}", "title": f"thing {k}", "price": k, "vector": rng.normal(size=4).tolist()} for k in range(n)]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_chunks_give_the_items_and_rejects_of_one_read(tmp_path, fmt):
    rows = _rows()
    rows[3]["price"] = "cheap"  # a reject
    rows[9]["id"] = rows[8]["id"]  # a duplicate
    path = tmp_path / f"c.{fmt}"
    frame = pd.DataFrame([{**r, "price": str(r["price"])} for r in rows])
    if fmt == "parquet":
        frame.to_parquet(path, row_group_size=4)
    elif fmt == "csv":
        frame.assign(vector=[json.dumps(v) for v in frame["vector"]]).to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    whole = read_catalog(path, vectors=VectorColumn("vector"))
    stream = CatalogStream(path, vectors=VectorColumn("vector"), chunk_rows=4).scan()
    assert (len(stream), stream.dimension, stream.rejects) == (23, 4, whole.rejects)
    for _ in range(2):  # each iteration re-reads the file
        got = list(stream)
        assert got == whole.items
        assert all(np.array_equal(a.vector, b.vector) for a, b in zip(got, whole.items, strict=True))


def test_a_bad_vector_stops_the_scan_and_a_changed_file_stops_the_reread(tmp_path):
    rows = _rows()
    rows[20]["vector"] = rows[20]["vector"][:3]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(CatalogError, match="c.jsonl:21: field 'vector': vector has 3 numbers, expected 4"):
        CatalogStream(path, vectors=VectorColumn("vector"), chunk_rows=4).scan()
    rows = _rows()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stream = CatalogStream(path, vectors=VectorColumn("vector")).scan()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))
    with pytest.raises(CatalogError, match="changed while it was being built"):
        list(stream)
