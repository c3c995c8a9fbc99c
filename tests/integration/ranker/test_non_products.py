"""Items not to recommend on the real node: an index built from a small catalog with postage marked not
recommendable. Every k-NN that recommends (the service's pool and /v1/similar, the evaluation's) leaves it out in
the query; search by its name still finds it; a live version of the previous schema (no flag) keeps working."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import ConfigError
from core.opensearch.client import make_client
from indexer import api
from indexer.build import item_document
from indexer.catalog import Item
from indexer.index import SCHEMA_VERSION, ItemsIndex, index_body, new_version_name
from ranker.evaluation.catalog import OpenSearchItems, load_catalog
from ranker.model import ItemVectors
from ranker.service.index_client import ServiceIndex

pytestmark = pytest.mark.integration

ROWS = [
    {"id": "85123A", "title": "WHITE HANGING HEART T-LIGHT HOLDER"},
    {"id": "21733", "title": "RED HANGING HEART T-LIGHT HOLDER"},
    {"id": "22423", "title": "REGENCY CAKESTAND 3 TIER"},
    {"id": "POST", "title": "POSTAGE", "recommendable": False},
    {"id": "DOT", "title": "DOTCOM POSTAGE HEART", "recommendable": "no"},
]
PRODUCTS = {"85123A", "21733", "22423"}


@pytest.fixture
def built(settings, fake_embedder, tmp_path):
    catalog = tmp_path / "items.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    api.build_from_catalog(settings, catalog, embedder=fake_embedder)
    return catalog


def _vector_of(settings, item_id: str) -> list[float]:
    return ServiceIndex(settings).vectors([item_id])[item_id]


def test_knn_for_recommendations_never_returns_postage_and_search_by_name_finds_it(settings, fake_embedder, built):
    client = make_client(settings.opensearch)
    alias = settings.opensearch.index_alias
    doc = client.get(index=alias, id="POST")["_source"]
    assert doc["recommendable"] is False and doc["title"] == "POSTAGE"
    for mode in ("bm25", "knn", "hybrid"):
        assert api.search(settings, "POSTAGE", k=5, embedder=fake_embedder, mode=mode)[0].id == "POST", mode
    service = ServiceIndex(settings)
    postage = _vector_of(settings, "POST")
    assert service.knn(postage, 5)[0].id == "POST"  # a search: everything
    assert {h.id for h in service.knn(postage, 5, recommendable_only=True)} == PRODUCTS  # /v1/similar
    assert set(service.knn_ids(postage, 5, exclude=())) == PRODUCTS  # the candidate pool's k-NN
    assert set(service.knn_ids(postage, 5, exclude={"22423"})) == PRODUCTS - {"22423"}
    assert service.unrecommendable(["POST", "DOT", "85123A", "NOPE"]) == {"POST", "DOT"}
    assert ItemVectors.from_index(settings).unrecommendable([r["id"] for r in ROWS]) == {"POST", "DOT"}
    snapshot = load_catalog(client, alias, settings.opensearch.url)
    assert snapshot.recommendable_ids == PRODUCTS
    search = OpenSearchItems(client, alias, settings.opensearch.url)
    assert {i for i, _ in search.knn(np.asarray([postage]), 5, [[]])[0]} == PRODUCTS
    found = [i for i, _ in search.bm25(["POSTAGE HEART"], 5, [[]])[0]]
    assert found and set(found) <= PRODUCTS
    assert set(search.knn_ids(postage, 5, ())) == PRODUCTS


def test_a_live_version_of_the_previous_schema_serves_until_a_build_writes_the_flag(settings, fake_embedder, tmp_path):
    """Schema 2 had no `recommendable`: its items read as recommendable, the recommending queries still run on it,
    `index update` refuses it and `index build` writes a version of this schema (as for every schema change)."""
    client = make_client(settings.opensearch)
    alias = settings.opensearch.index_alias
    index = ItemsIndex(client, alias, settings.opensearch.url)
    body = index_body(fake_embedder.dimension, {"embedding_model": fake_embedder.name, "build_state": "complete"})
    del body["mappings"]["properties"]["recommendable"]
    body["mappings"]["_meta"]["schema_version"] = 2
    old = new_version_name(alias)
    client.indices.create(index=old, body=body)
    items = [Item(r["id"], r["title"]) for r in ROWS]
    for item, vector in zip(items, fake_embedder.encode([it.title for it in items]), strict=True):
        doc = {k: v for k, v in item_document(item, vector.tolist(), model=fake_embedder.name).items()
               if k != "recommendable"}  # fmt: skip
        client.index(index=old, id=item.id, body=doc)
    index.finish_build(old)
    index.swap_alias(old)

    postage = _vector_of(settings, "POST")
    assert ServiceIndex(settings).knn_ids(postage, 1, exclude=())[0] == "POST"  # no flag: recommendable
    assert ItemVectors.from_index(settings).recommendable.all()
    assert load_catalog(client, alias, settings.opensearch.url).recommendable.all()

    catalog = tmp_path / "items.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    expected = f"has schema 2, this indexer writes {SCHEMA_VERSION}: run `recadmin index build` once"
    with pytest.raises(ConfigError, match=expected):
        api.update_from_catalog(settings, catalog, embedder=fake_embedder)
    result = api.build_from_catalog(settings, catalog, embedder=fake_embedder).result
    assert not result.up_to_date and result.previous == old and result.indexed == len(ROWS)
    assert index.meta(index.require_live())["schema_version"] == SCHEMA_VERSION
    assert set(ServiceIndex(settings).knn_ids(postage, 5, exclude=())) == PRODUCTS
