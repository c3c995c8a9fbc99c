"""An index of the shop's own vectors with no model of their space (``_meta.embedding_model`` ``catalog:<column>``):
the service is ready, answers a text query from BM25 and says so (``source: "bm25"``), uses k-NN for a request
that brings its own vector, and follows the alias to and from such an index."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from core.errors import ModelError
from tests.fakes.service import FakeIndex, _Embedder, make_app


def _no_model_loads(monkeypatch) -> list[str | None]:
    loaded: list[str | None] = []

    def embedder_for(settings, model=None):
        if str(model).startswith("catalog:"):
            raise ModelError(f"cannot load embedding model {model}")  # what the real loader says of it
        loaded.append(model)
        embedder = _Embedder()
        embedder.name = model
        return embedder

    monkeypatch.setattr("core.embedding.embedder_for", embedder_for)
    return loaded


def _ready(c: TestClient) -> dict:
    deadline = time.monotonic() + 30
    while (r := c.get("/readyz")).json()["status"] == "starting":
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.01)
    return {"code": r.status_code, **r.json()}


def test_a_text_query_on_the_shops_own_vectors_is_answered_from_bm25_and_says_so(monkeypatch):
    loaded = _no_model_loads(monkeypatch)
    index = FakeIndex(hybrid=True)
    index.embedding = "catalog:vector"
    app, _ = make_app(index=index, embedder=None)
    c = TestClient(app)
    ready = _ready(c)
    assert ready["code"] == 200 and ready["status"] == "ready", ready
    assert ready["parts"]["embedder"] == "ready" and ready["embedding_model"] == "catalog:vector"
    r = c.post("/v1/search", json={"query": "red heart", "k": 2, "mode": "hybrid"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "bm25"
    assert {x["id"] for x in body["results"]} == {"A1", "A2"}
    assert index.bm25_calls and index.knn_calls == [] and loaded == []
    # a request that brings its own vector (in the shop's space) still gets k-NN
    r = c.post("/v1/search", json={"query": "anything", "k": 2, "mode": "knn", "vector": [0.0, 1.0, 0.0, 0.0]})
    assert r.status_code == 200 and r.json()["source"] == "knn"
    assert {x["id"] for x in r.json()["results"]} == {"B1", "B2"}
    bad = c.post("/v1/search", json={"query": "x", "k": 2, "vector": [1.0, 0.0]})  # the index's dimension is 4
    assert bad.status_code == 422 and "expected 4 numbers" in bad.text


def test_the_service_follows_the_alias_to_and_from_an_index_of_the_shops_own_vectors(monkeypatch):
    loaded = _no_model_loads(monkeypatch)
    index = FakeIndex(hybrid=True)
    index.embedding = "minilm"
    app, _ = make_app(index=index, embedder=None)
    deps = app.state.deps
    c = TestClient(app)
    assert c.post("/v1/search", json={"query": "red heart", "k": 2}).json()["source"] == "hybrid"
    index.embedding = "catalog:vector"  # rebuilt from a catalog with its own vectors
    deps._refresh_model()
    assert deps.embedding_model == "catalog:vector"
    assert c.post("/v1/search", json={"query": "red heart", "k": 2}).json()["source"] == "bm25"
    index.embedding = "minilm"  # and back
    deps._refresh_model()
    assert c.post("/v1/search", json={"query": "red heart", "k": 2}).json()["source"] == "hybrid"
    assert loaded == ["minilm", "minilm"]
