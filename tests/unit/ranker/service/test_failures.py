"""Graceful failure: a broken model or profile store degrades to retrieval order with a flag, never a 500;
OpenSearch down is a clear 503; parts that fail to load are retried later."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.errors import ComponentUnavailable, ModelError
from ranker.service.lazy import Lazy
from tests.fakes.service import make_app

HITS = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "A1", "score": 0.6}]


@pytest.fixture
def app_and_fakes():
    app, fakes = make_app()
    return TestClient(app, raise_server_exceptions=False), fakes


def test_failing_model_gives_retrieval_order_flagged(app_and_fakes):
    c, fakes = app_and_fakes
    fakes["ranker"].fail = True
    body = c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()
    assert (body["personalized"], body["reason"]) == (False, "model_unavailable")
    assert [(r["id"], r["score"]) for r in body["results"]] == [("B2", 0.9), ("A2", 0.8), ("A1", 0.6)]
    search = c.post("/v1/search", json={"query": "blue", "user_id": "u1", "k": 2})
    assert search.status_code == 200 and search.json()["reason"] == "model_unavailable"
    assert [r["id"] for r in search.json()["results"]] == ["B1", "B2"]  # the OpenSearch order
    assert 'recsearch_component_errors_total{component="model"} 2.0' in c.get("/metrics").text


def test_failing_profile_store_gives_retrieval_order_flagged(app_and_fakes):
    c, fakes = app_and_fakes
    fakes["profiles"].fail = True
    for response in (
        c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}),
        c.post("/v1/search", json={"query": "red", "user_id": "u1"}),
        c.get("/v1/recommend/u1"),
    ):
        assert response.status_code == 200
        assert (response.json()["personalized"], response.json()["reason"]) == (False, "profile_store_unavailable")
    assert c.get("/v1/recommend/u1").json()["source"] == "popularity"


def test_a_model_that_cannot_load_is_a_flag_and_readyz_says_degraded_with_a_code():
    def no_model():
        raise ModelError("no active ranker version; train one with `recadmin train` (/srv/models/v3.pt)")

    app, fakes = make_app()
    app.state.deps.ranker = Lazy("model", no_model)
    c = TestClient(app)
    body = c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()
    assert body["reason"] == "model_unavailable"
    r = c.get("/readyz")
    ready = r.json()
    assert r.status_code == 200 and ready["status"] == "degraded"
    assert (ready["parts"]["model"], ready["reasons"]["model"]) == ("failed", "model_error")
    assert "/srv/models" not in r.text and "recadmin" not in r.text  # details go to the log, not to callers


def test_opensearch_down_is_a_clear_503_for_search_and_recommend(app_and_fakes):
    c, fakes = app_and_fakes
    fakes["index"].down = True
    for response in (
        c.post("/v1/search", json={"query": "red", "user_id": "u1"}),
        c.get("/v1/recommend/nobody"),
        c.get("/v1/similar/A1?user_id=u1"),
    ):
        assert response.status_code == 503
        assert response.json()["error"] == "search is unavailable; retry later"
        assert response.json()["reason"] == "opensearch_unreachable" and response.headers["retry-after"] == "5"
    # The plugin's rerank does not need OpenSearch: it still answers.
    assert c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()["personalized"] is True


def test_lazy_part_remembers_a_failure_then_retries():
    calls = []

    def factory():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk not mounted")
        return "loaded"

    part = Lazy("thing", factory, retry_after_s=0.0)
    with pytest.raises(ComponentUnavailable, match="thing unavailable: disk not mounted"):
        part.get()
    assert part.state == "failed: disk not mounted"
    assert part.get() == "loaded" and part.state == "ready"
    slow = Lazy("other", lambda: 1 / 0, retry_after_s=60.0)
    for _ in range(3):
        with pytest.raises(ComponentUnavailable):
            slow.get()
