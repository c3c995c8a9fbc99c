"""The real service on a real index of the shop's own vectors built with no vector model: /readyz has its embedder
ready (no model is loaded), /v1/search answers a text query from BM25 and says so, and a request that brings its
own vector gets k-NN in that space."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexer import api
from ranker.service.app import create_app

pytestmark = pytest.mark.integration


def test_a_text_query_on_the_shops_own_vectors_is_served_from_bm25(settings, tmp_path):
    rng = np.random.default_rng(2)
    nouns = ["mug", "plate", "lamp", "towel"]
    rows = [
        {"id": f"s{i}", "title": f"{nouns[i % 4]} model {i}", "vector": rng.normal(size=8).round(5).tolist()}
        for i in range(40)
    ]
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in rows))
    built = api.build_from_catalog(settings, catalog, vector_field="vector").result
    assert built.given == 40
    # generous deadlines: a loaded test machine must not make the store's ping look like an outage
    service = settings.service.model_copy(
        update={"allowed_hosts": "testserver", "profile_deadline_ms": 10_000, "opensearch_timeout_s": 30.0}
    )
    c = TestClient(create_app(settings.model_copy(update={"service": service})), raise_server_exceptions=False)
    deadline = time.monotonic() + 60
    while (ready := c.get("/readyz").json())["status"] == "starting":
        assert time.monotonic() < deadline, ready
        time.sleep(0.05)
    # no ranker trained: degraded (retrieval order), but the embedder is no reason to be unavailable
    assert ready["status"] == "degraded" and ready["parts"]["embedder"] == "ready", ready
    assert ready["embedding_model"] == "catalog:vector"
    r = c.post("/v1/search", json={"query": "lamp", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "bm25" and len(body["results"]) == 5
    assert all(x["title"].startswith("lamp") for x in body["results"])
    probe = rows[13]
    r = c.post("/v1/search", json={"query": "anything", "k": 3, "mode": "knn", "vector": probe["vector"]})
    assert r.status_code == 200 and r.json()["source"] == "knn", r.text
    assert r.json()["results"][0]["id"] == probe["id"]
