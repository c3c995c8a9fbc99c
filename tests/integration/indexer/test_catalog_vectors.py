"""Bring your own vectors against the real node, on a synthetic shop (bench/synth_shop.py): built with
--vector-field and searched, a wrong row refused with the alias where it was, an unchanged rebuild skipped, a changed
vector rewritten; then the shop's events imported and a small model trained on them with the product's commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.synth_shop import ShopParams, generate
from cli.main import run
from core.settings import get_settings
from indexer import api
from indexer.search import knn_search

pytestmark = pytest.mark.integration

PARAMS = ShopParams(items=2000, users=300, events=30000, days=120, seed=11, vectors=16)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate(PARAMS, out, "jsonl")
    return out


@pytest.fixture
def cli_env(cli_env, monkeypatch):
    """The indexer's ``cli_env``, with bulk requests of 500 documents (several per build)."""
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_BULK_CHUNK_SIZE", "500")
    get_settings.cache_clear()
    return cli_env


def _catalog(shop) -> list[dict]:
    return [json.loads(line) for line in (shop / "catalog.jsonl").read_text().splitlines()]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_synthetic_shop_with_its_own_vectors_is_built_and_searched(shop, cli_env, capsys):
    catalog = shop / "catalog.jsonl"
    assert run(["index", "build", "--catalog", str(catalog), "--vector-field", "vector"]) == 0
    out = capsys.readouterr().out
    assert "indexed 2,000 items" in out and "0 embedded, 2,000 vectors from the catalog" in out
    index = api.items_index(cli_env)
    live = index.require_live()
    meta = index.meta(live)
    assert meta["vector_source"] == "catalog" and meta["vector_field"] == "vector"
    assert meta["embedding_model"] == "catalog:vector" and meta["dimension"] == PARAMS.vectors
    # the stored vectors are the catalog's, and k-NN over them finds the item's category
    rows = _catalog(shop)
    probe = rows[7]
    stored = index.client.get(index=live, id=probe["id"])["_source"]["vector"]
    np.testing.assert_allclose(stored, probe["vector"], atol=1e-6)
    hits = knn_search(index.client, index.alias, probe["vector"], 20)
    assert hits[0].id == probe["id"]
    assert sum(h.category == probe["category"] for h in hits) >= 15
    # a text query has no vector in the shop's space: hybrid answers from BM25 alone, knn says why it cannot
    noun = probe["category"].split(" > ")[1]
    found = api.search(cli_env, noun, 10)
    assert found and all(noun in h.title for h in found)
    assert run(["search", noun, "--mode", "knn"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "come from the catalog (catalog:vector)" in err[0] and "--mode bm25" in err[0]


def test_a_wrong_row_is_refused_naming_it_and_the_alias_stays(shop, cli_env, tmp_path, capsys):
    rows = _catalog(shop)
    good = api.build_from_catalog(cli_env, shop / "catalog.jsonl", vector_field="vector").result
    before = [(v.name, v.live, v.docs) for v in api.index_versions(cli_env)]
    cases = [
        (rows[1233]["vector"][:-1], "vector has 15 numbers, expected 16 (line 1's dimension); nothing was written"),
        ([*rows[1233]["vector"][:-1], float("inf")], "bad vector: value 15 is not a finite number (inf)"),
    ]
    for bad, reason in cases:
        broken = [dict(r) for r in rows]
        broken[1233]["vector"] = bad
        path = _write(tmp_path / "broken.jsonl", broken)
        path.write_text(path.read_text().replace("Infinity", "1e999"))  # JSON has no infinity; 1e999 reads as one
        assert run(["index", "build", "--catalog", str(path), "--vector-field", "vector", "--force"]) == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err == f"error: {path}:1234: field 'vector': {reason}"
        assert [(v.name, v.live, v.docs) for v in api.index_versions(cli_env)] == before
        assert api.items_index(cli_env).live_version() == good.index
    # an update checks against the live version's mapping: a consistent catalog of another dimension is refused
    other = [{**r, "vector": r["vector"][:8]} for r in rows]
    path = _write(tmp_path / "dim8.jsonl", other)
    assert run(["index", "update", "--catalog", str(path), "--vector-field", "vector"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:1: field 'vector': vector has 8 numbers, expected 16 (the live version {good.index}'s" in err
    assert [(v.name, v.live, v.docs) for v in api.index_versions(cli_env)] == before


def test_an_unchanged_rebuild_skips_the_work_and_a_changed_vector_is_rewritten(shop, cli_env, tmp_path):
    catalog = shop / "catalog.jsonl"
    first = api.build_from_catalog(cli_env, catalog, vector_field="vector").result
    again = api.build_from_catalog(cli_env, catalog, vector_field="vector").result
    assert again.up_to_date and again.index == first.index and again.skipped == PARAMS.items
    rows = _catalog(shop)
    rows[5]["vector"] = list(reversed(rows[5]["vector"]))
    changed = _write(tmp_path / "changed.jsonl", rows)
    rebuilt = api.build_from_catalog(cli_env, changed, vector_field="vector").result  # one vector moved: a new version
    assert not rebuilt.up_to_date and rebuilt.index != first.index and rebuilt.given == PARAMS.items
    update = api.update_from_catalog(cli_env, changed, vector_field="vector").result
    assert update.indexed == 0 and update.given == 0  # the live version holds it already: nothing to write
    rows[6]["vector"] = list(reversed(rows[6]["vector"]))
    update = api.update_from_catalog(cli_env, _write(tmp_path / "changed3.jsonl", rows), vector_field="vector").result
    assert (update.indexed, update.given, update.embedded) == (1, 1, 0)
    index = api.items_index(cli_env)
    stored = index.client.get(index=index.alias, id=rows[6]["id"])["_source"]["vector"]
    np.testing.assert_allclose(stored, rows[6]["vector"], atol=1e-6)


def test_the_synthetic_events_import_and_train_a_model(shop, cli_env, capsys, monkeypatch):
    for name, value in {"RANKER_EPOCHS": "1", "RANKER_VALIDATION_EXAMPLES": "200", "SEQUENCE_EPOCHS": "1",
                        "SEQUENCE_MAX_MINUTES": "0.5", "SEQUENCE_VALIDATION_EXAMPLES": "200"}.items():  # fmt: skip
        monkeypatch.setenv(f"RECSEARCH_{name}", value)
    get_settings.cache_clear()
    assert run(["index", "build", "--catalog", str(shop / "catalog.jsonl"), "--vector-field", "vector"]) == 0
    events = shop / "events.jsonl"
    assert run(["feedback", "import", str(events)]) == 0
    out = capsys.readouterr().out
    assert f"{PARAMS.events:,} rows read" in out and f"{PARAMS.events:,} events added" in out and " 0 rejected" in out
    assert "not in the catalog" not in out
    assert run(["train"]) == 0
    out = capsys.readouterr().out
    assert "registered ranker" in out and "(active)" in out
    purchases = pd.read_json(events, lines=True).query("type == 'purchase'")
    assert len(purchases) > 500
