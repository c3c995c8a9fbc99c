"""The build digest against the real node: an unchanged rebuild is skipped without reading the catalog, and every
change that changes a document is not; a catalog streamed in chunks gives the same documents as one read whole."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from core.opensearch.documents import iter_documents
from indexer import api
from indexer.build import build_index
from indexer.catalog import FieldMapping, VectorColumn, read_catalog
from indexer.catalog_stream import CatalogStream
from indexer.digest import META_DIGEST
from indexer.index import ItemsIndex
from indexer.vectors import CatalogVectors

pytestmark = pytest.mark.integration

N, DIM = 60, 8


def _rows(seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {"id": f"sku-{i:03d}", "title": f"item {i} mug", "name": f"other name {i}", "category": f"cat {i % 4}",
         "price": float(i), "vector": rng.normal(size=DIM).round(5).tolist(),
         "vector2": rng.normal(size=DIM).round(5).tolist()}
        for i in range(N)
    ]  # fmt: skip


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _build(settings, path, **kw):
    kw.setdefault("vector_field", "vector")
    return api.build_from_catalog(settings, path, **kw).result


def _not_read(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("the catalog was read")

    monkeypatch.setattr("indexer.api.CatalogStream", refuse)
    monkeypatch.setattr("indexer.api.read_catalog", refuse)


def test_an_unchanged_rebuild_is_skipped_without_reading_the_catalog(settings, tmp_path, monkeypatch):
    catalog = _write(tmp_path / "catalog.jsonl", _rows())
    first = _build(settings, catalog)
    assert first.given == N and not first.up_to_date
    index = api.items_index(settings)
    assert index.meta(first.index)[META_DIGEST]
    os.utime(catalog, (1, 1))  # a touched file (same bytes) is the same catalog
    with monkeypatch.context() as m:
        _not_read(m)
        again = _build(settings, catalog)
    assert again.up_to_date and again.digest_match and again.index == first.index and again.skipped == N
    forced = _build(settings, catalog, force=True)  # --force writes a new version anyway
    assert not forced.up_to_date and forced.index != first.index and forced.given == N


@pytest.mark.parametrize(
    "change",
    ["one vector", "one title", "the mapping", "the vector field", "strict", "the reader"],
)
def test_a_change_that_changes_a_document_is_never_skipped(settings, tmp_path, change, monkeypatch):
    rows = _rows()
    catalog = _write(tmp_path / "catalog.jsonl", rows)
    first = _build(settings, catalog)
    kw: dict = {}
    if change == "one vector":
        rows[17]["vector"] = [-x for x in rows[17]["vector"]]
        _write(catalog, rows)
    elif change == "one title":
        rows[40]["title"] = "a new title"
        _write(catalog, rows)
    elif change == "the mapping":
        kw["mapping"] = FieldMapping.parse("title=name")
    elif change == "the vector field":
        kw["vector_field"] = "vector2"
    elif change == "strict":
        kw["strict"] = True
    else:
        monkeypatch.setattr("indexer.digest.DIGEST_VERSION", 999)  # how items are read changed
    again = _build(settings, catalog, **kw)
    assert not again.digest_match
    index = api.items_index(settings)
    live = index.require_live()
    doc = index.client.get(index=live, id="sku-017")["_source"]
    if change == "one vector":
        assert not again.up_to_date and again.index != first.index
        np.testing.assert_allclose(doc["vector"], rows[17]["vector"], atol=1e-5)
    elif change == "one title":
        assert index.client.get(index=live, id="sku-040")["_source"]["title"] == "a new title"
    elif change == "the mapping":
        assert doc["title"] == "other name 17"
    elif change == "the vector field":
        np.testing.assert_allclose(doc["vector"], rows[17]["vector2"], atol=1e-5)
    else:  # same documents: found unchanged one by one, and the new digest kept for the next build
        assert again.up_to_date and again.index == first.index
        assert _build(settings, catalog, **kw).digest_match


def test_an_update_or_lost_documents_void_the_digest(settings, tmp_path):
    rows = _rows()
    catalog = _write(tmp_path / "catalog.jsonl", rows)
    _build(settings, catalog)
    other = [dict(r) for r in rows]
    other[3]["title"] = "changed in place"
    api.update_from_catalog(settings, _write(tmp_path / "other.jsonl", other), vector_field="vector")
    index = api.items_index(settings)
    assert not index.meta(index.require_live()).get(META_DIGEST)
    back = _build(settings, catalog)  # the original file again: the live version no longer holds it
    assert not back.digest_match and not back.up_to_date
    assert index.client.get(index=index.alias, id="sku-003")["_source"]["title"] == "item 3 mug"
    assert _build(settings, catalog).digest_match
    index.client.delete(index=back.index, id="sku-009", refresh=True)  # a document lost behind the build's back
    healed = _build(settings, catalog)
    assert not healed.digest_match and not healed.up_to_date and healed.indexed == N


def _documents(index: ItemsIndex, name: str) -> dict[str, dict]:
    fields = ["item_id", "title", "category", "price", "text", "doc_hash", "vector", "recommendable"]
    return {h["_id"]: h["_source"] for h in iter_documents(index.client, name, fields)}


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_a_catalog_streamed_in_chunks_gives_the_documents_of_one_read_whole(settings, tmp_path, fmt):
    rows = _rows(5)
    rows.insert(20, dict(rows[4]))  # a duplicate id: rejected the same way in both
    path = tmp_path / f"catalog.{fmt}"
    if fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path, row_group_size=16)
    elif fmt == "csv":
        pd.DataFrame([{**r, "vector": json.dumps(r["vector"]), "vector2": ""} for r in rows]).to_csv(path, index=False)
    else:
        _write(path, rows)
    column = VectorColumn("vector")
    whole = read_catalog(path, vectors=column)
    stream = CatalogStream(path, vectors=column, chunk_rows=7).scan()
    assert len(stream) == len(whole.items) == N and stream.rejects == whole.rejects and len(whole.rejects) == 1
    client = api.items_index(settings).client
    built = []
    for suffix, items in (("whole", whole.items), ("chunks", stream)):
        index = ItemsIndex(client, f"{settings.opensearch.index_alias}-{suffix}")
        result = build_index(client, index, items, CatalogVectors("vector", DIM), chunk_size=10)
        assert result.given == N
        built.append(_documents(index, result.index))
    try:
        assert built[0] == built[1] and len(built[0]) == N
    finally:
        client.indices.delete(index=f"{settings.opensearch.index_alias}-*", ignore_unavailable=True)
