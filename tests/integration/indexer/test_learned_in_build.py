"""The active model's learned vectors written in the build's own bulk, on the real node: the same vectors the old
second pass (a partial update per item) wrote, every document at its first version (no update ran), the version's
``_meta`` naming the model, publishing after it a no-op, k-NN over ``behaviour_vector`` answering; ``index update``
keeps them; ``models activate`` of another model rewrites them in place (refresh restored after)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.bench_service_scale import seeded_checkpoint
from bench.synth_shop import ShopParams, generate
from cli.main import run
from core.errors import OpenSearchError
from core.opensearch.documents import iter_documents
from indexer import api
from indexer.learned import BEHAVIOUR_FIELD, learned_model, write_learned_vectors
from ranker.feedback.api import store_engine
from ranker.model import active_learned_vectors, publish_active, registry
from ranker.model.checkpoint import save_checkpoint
from ranker.model.item_vectors import ItemVectors

pytestmark = pytest.mark.integration

PARAMS = ShopParams(items=600, users=50, events=2000, days=60, seed=5, vectors=16)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    generate(PARAMS, out, "jsonl")
    return out


def _register(settings, shop, seed: int) -> str:
    """A seeded model whose sequence model knows all but every 5th item (those are placed by their text alone),
    with id vectors that are not zero (a trained model's are not), registered and activated."""
    rows = [json.loads(line) for line in (shop / "catalog.jsonl").read_text().splitlines()]
    known = [r for k, r in enumerate(rows) if k % 5]
    items = ItemVectors.from_arrays([r["id"] for r in known], np.asarray([r["vector"] for r in known]),
                                    prices=[r["price"] for r in known])  # fmt: skip
    engine = store_engine(settings)
    version = registry.next_version(engine)
    checkpoint = seeded_checkpoint(items, version, seed=seed)
    torch.manual_seed(seed)
    with torch.no_grad():
        checkpoint.sequence.model.item_ids.weight[1:].normal_()
    path = save_checkpoint(checkpoint, settings.state_dir / "models" / f"{version}.pt")
    registry.register(engine, version, path, {}, activate=False)
    return version


def _learned(settings, name: str) -> dict[str, tuple[list[float], int]]:
    """item id -> (behaviour_vector, the document's _version) of every document of ``name``."""
    client = api.items_index(settings).client
    client.indices.refresh(index=name)
    out = {}
    after = None
    while True:
        body = {"size": 500, "version": True, "_source": [BEHAVIOUR_FIELD], "sort": [{"item_id": "asc"}]}
        if after:
            body["search_after"] = after
        hits = client.search(index=name, body=body)["hits"]["hits"]
        out.update({h["_id"]: (h["_source"].get(BEHAVIOUR_FIELD), h["_version"]) for h in hits})
        if len(hits) < 500:
            return out
        after = hits[-1]["sort"]


def test_a_build_writes_the_active_models_vectors_as_the_second_pass_did(shop, cli_env, capsys):
    settings = cli_env
    catalog = str(shop / "catalog.jsonl")
    version = _register(settings, shop, seed=1)
    assert run(["index", "build", "--catalog", catalog, "--vector-field", "vector"]) == 0  # no model active yet
    assert run(["models", "activate", version]) == 0  # the old way: a partial update per item
    index = api.items_index(settings)
    two_pass = index.require_live()
    assert learned_model(index) == version
    before = _learned(settings, two_pass)
    assert all(v is not None and n == 2 for v, n in before.values()) and len(before) == PARAMS.items
    capsys.readouterr()

    assert run(["index", "build", "--catalog", catalog, "--vector-field", "vector", "--force"]) == 0
    out = capsys.readouterr().out
    one_pass = index.require_live()
    assert one_pass != two_pass
    assert f"{one_pass} already holds the learned vectors of ranker {version} (600 items)" in out
    meta = index.meta(one_pass)
    assert meta["behaviour_model"] == version and meta["behaviour_dim"] == 64
    mapping = index.client.indices.get_mapping(index=one_pass)[one_pass]["mappings"]["properties"][BEHAVIOUR_FIELD]
    assert mapping["dimension"] == 64 and mapping["method"]["space_type"] == "innerproduct"
    after = _learned(settings, one_pass)
    assert after.keys() == before.keys()
    assert all(n == 1 for _, n in after.values())  # each document written once: no partial update ran
    for item, (vector, _) in after.items():
        np.testing.assert_allclose(vector, before[item][0], rtol=1e-5, atol=1e-6, err_msg=item)
    assert publish_active(settings).written is False

    # k-NN over the learned field answers: HNSW's top 10 by inner product is the exact top 10
    ids = sorted(after)
    table = np.asarray([after[i][0] for i in ids], dtype=np.float32)
    query = table[:20].mean(axis=0)
    hits = index.client.search(index=index.alias, body={"size": 10, "_source": False, "query": {
        "knn": {BEHAVIOUR_FIELD: {"vector": query.tolist(), "k": 10}}}})["hits"]["hits"]  # fmt: skip
    exact = {ids[r] for r in np.argsort(-(table @ query))[:10]}
    assert len({h["_id"] for h in hits} & exact) >= 9


def test_an_update_keeps_them_and_another_model_is_written_in_place(shop, cli_env, tmp_path, capsys):
    settings = cli_env
    first, second = _register(settings, shop, seed=1), _register(settings, shop, seed=2)
    assert run(["models", "activate", first]) == 0
    assert run(["index", "build", "--catalog", str(shop / "catalog.jsonl"), "--vector-field", "vector"]) == 0
    index = api.items_index(settings)
    live = index.require_live()
    assert learned_model(index) == first

    rows = [json.loads(line) for line in (shop / "catalog.jsonl").read_text().splitlines()]
    rows[3]["title"] += " deluxe"
    rows[4]["vector"] = [-x for x in rows[4]["vector"]]
    changed = tmp_path / "catalog.jsonl"
    changed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run(["index", "update", "--catalog", str(changed), "--vector-field", "vector"]) == 0
    assert index.require_live() == live and learned_model(index) == first
    vectors = _learned(settings, live)
    provider = active_learned_vectors(settings)
    for row in rows[3:5]:
        expected = provider.vectors([row["id"]], np.asarray([row["vector"]], dtype=np.float32))[0]
        np.testing.assert_allclose(vectors[row["id"]][0], expected, rtol=1e-5, atol=1e-6)
    # without the model's vectors an update forgets the claim, and publishing writes them all again
    api.update_from_catalog(settings, shop / "catalog.jsonl", vector_field="vector")
    assert learned_model(index) is None
    assert publish_active(settings).written and learned_model(index) == first

    # another model on the live version: written in place, refresh off during the updates and restored after
    assert run(["models", "activate", second]) == 0
    assert learned_model(index) == second
    found = index.client.indices.get_settings(index=live, name="index.refresh_interval")
    assert found[live]["settings"]["index"]["refresh_interval"] == "1s"
    vectors = _learned(settings, live)
    provider = active_learned_vectors(settings)
    docs = {h["_id"]: h["_source"]["vector"] for h in iter_documents(index.client, live, ["vector"], 500)}
    for item in list(docs)[:50]:
        expected = provider.vectors([item], np.asarray([docs[item]], dtype=np.float32))[0]
        np.testing.assert_allclose(vectors[item][0], expected, rtol=1e-5, atol=1e-6)

    # a publication that fails half-way (an update of an item the version lacks) claims no model, and the refresh
    # interval is back
    with pytest.raises(OpenSearchError, match="no-such-item"):
        write_learned_vectors(index, "v9", {"no-such-item": [0.5] * 64})
    assert learned_model(index) is None
    found = index.client.indices.get_settings(index=live, name="index.refresh_interval")
    assert found[live]["settings"]["index"]["refresh_interval"] == "1s"
