"""/readyz tells the truth (loaded and reachable, in codes, no URLs); /v1/search embeds with the live index's
embedding model, reloaded when the index changes; the query cache under many threads."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from fastapi.testclient import TestClient

from core.errors import ModelError
from ranker.service.lazy import Lazy
from tests.fakes.service import FakeIndex, FakeVectors, _Embedder, make_app


def _warmed(deps) -> None:
    deadline = time.monotonic() + 30
    while deps.warm_state != "done":
        assert time.monotonic() < deadline, "the warm-up did not finish"
        time.sleep(0.01)


def test_readyz_is_503_while_the_parts_load_then_200_with_the_models_in_use():
    release = threading.Event()

    def slow_vectors():
        release.wait(30)
        return FakeVectors()

    app, _ = make_app()
    deps = app.state.deps
    deps.vectors = Lazy("item_vectors", slow_vectors)
    c = TestClient(app)
    r = c.get("/readyz")  # starts the warm-up (an app built without it); the vectors are still loading
    assert r.status_code == 503 and r.json()["status"] == "starting"
    assert r.json()["parts"]["item_vectors"] == "loading"
    release.set()
    _warmed(deps)
    r = c.get("/readyz")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ready", body
    assert set(body["parts"].values()) == {"ready"} and body["reasons"] == {}
    assert (body["index"], body["embedding_model"], body["model_version"]) == ("items-v1", "fake", "v-test")


def test_readyz_pings_opensearch_and_the_store_now_and_names_no_url():
    app, fakes = make_app()
    c = TestClient(app)
    deadline = time.monotonic() + 30
    while c.get("/readyz").status_code != 200:  # the warm-up of the fakes
        assert time.monotonic() < deadline, c.get("/readyz").json()
        time.sleep(0.01)
    fakes["index"].down = True  # the client object is still "loaded": only a ping tells
    r = c.get("/readyz")
    assert r.status_code == 503 and "fake:9200" not in r.text and "http" not in r.text
    assert r.json()["status"] == "unavailable"
    assert (r.json()["parts"]["opensearch"], r.json()["reasons"]["opensearch"]) == ("failed", "unreachable")
    fakes["index"].down = False
    fakes["profiles"].fail = True
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["parts"]["profile_store"] == "failed"
    assert "locked" not in r.text
    fakes["profiles"].fail = False
    assert c.get("/readyz").status_code == 200


def test_search_embeds_with_the_live_index_model_and_follows_it(monkeypatch):
    loaded: list[str | None] = []

    def embedder_for(settings, model=None):
        if model == "broken":
            raise ModelError("cannot load embedding model from /srv/models/broken")
        loaded.append(model)
        embedder = _Embedder()
        embedder.name = model
        return embedder

    monkeypatch.setattr("core.embedding.embedder_for", embedder_for)
    index = FakeIndex()
    index.embedding = "ft-v2"  # the live version's _meta.embedding_model, not RECSEARCH_MODELS_EMBEDDING
    app, _ = make_app(index=index, embedder=None)
    deps = app.state.deps
    c = TestClient(app)
    assert c.post("/v1/search", json={"query": "red", "k": 2}).status_code == 200
    assert loaded == ["ft-v2"] and c.get("/readyz").json()["embedding_model"] == "ft-v2"
    first = deps.embedder.get()
    index.embedding = "/srv/state/models/embedding/ft-v3"  # the index was rebuilt with another model
    deps._refresh_model()  # the background check
    assert loaded[-1] == "/srv/state/models/embedding/ft-v3" and deps.embedder.get() is not first
    assert c.post("/v1/search", json={"query": "red", "k": 2}).status_code == 200
    assert deps.embedder.get().calls == 1  # the cached vector of the old model is not reused
    ready = c.get("/readyz")
    assert ready.json()["embedding_model"] == "ft-v3" and "/srv" not in ready.text
    index.embedding = "broken"
    deps._refresh_model()  # cannot load: the model in use keeps serving
    assert deps.embedding_model == "ft-v3"
    assert c.post("/v1/search", json={"query": "blue", "k": 2}).status_code == 200


@pytest.fixture
def fast_switches():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave between any two bytecodes: the race window opens often
    yield
    sys.setswitchinterval(before)


def test_the_query_cache_serves_many_threads_at_once(fast_switches):
    app, _ = make_app()
    deps = app.state.deps
    deps.query_cache.size = 2  # constant eviction: a hit and another thread's eviction of it interleave
    errors: list[str] = []

    def hammer(n: int) -> None:
        try:
            for i in range(2000):
                deps.embed_query(f"red {(i + n) % 5}")
        except Exception as e:  # the assertion below shows what was raised
            errors.append(repr(e))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(deps.query_cache) <= 2
