"""Every answer of /v1/search, /v1/recommend and /v1/rerank carries a UBI query_id (the caller's, or a new UUID4)
and is recorded as an impression: the ids in the order shown, their positions, and what placed each. Over fakes;
the real store and node: tests/integration/ranker/feedback/test_ubi.py."""

from __future__ import annotations

import threading
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.fakes.service import make_app

HITS = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "C1", "score": 0.7}, {"id": "A1", "score": 0.6}]


@pytest.fixture
def app():
    app, fakes = make_app(service={"search_personal_weight": 100.0, "candidates": 3})
    with TestClient(app) as client:
        yield client, fakes["impressions"]
    assert fakes["impressions"].stopped  # the app's shutdown stops (flushes) the recorder


def test_search_answers_carry_a_new_uuid4_recorded_with_positions_and_placed_by(app):
    client, log = app
    body = client.post("/v1/search", json={"query": "red heart", "user_id": "u1", "k": 2, "offset": 2,
                                           "mode": "knn"}).json()  # fmt: skip
    assert uuid.UUID(body["query_id"]).version == 4
    [imp] = log.recorded
    assert (imp.query_id, imp.application, imp.client_id, imp.user_query) == (body["query_id"], "search", "u1",
                                                                              "red heart")  # fmt: skip
    assert [h.object_id for h in imp.hits] == [r["id"] for r in body["results"]]
    # A window of 3 ordered by the model: place 3 is the model's, place 4 lies past the window (retrieval's).
    assert [(h.position, h.placed_by) for h in imp.hits] == [(3, "v-test"), (4, "retrieval")]
    assert imp.model_version == "v-test" and imp.personalized


def test_the_callers_query_id_is_kept_and_an_anonymous_search_is_placed_by_retrieval(app):
    client, log = app
    body = client.post("/v1/search", json={"query": "red", "k": 3, "query_id": "shop-q-1", "mode": "knn"}).json()
    assert body["query_id"] == "shop-q-1"
    assert {h.placed_by for h in log.recorded[0].hits} == {"retrieval"} and log.recorded[0].client_id is None


def test_recommend_is_recorded_without_query_text_placed_by_the_model_or_popularity(app):
    client, log = app
    mine = client.get("/v1/recommend/u1", params={"k": 2, "query_id": "rec-1"}).json()
    cold = client.get("/v1/recommend/stranger", params={"k": 2}).json()
    assert mine["query_id"] == "rec-1" and uuid.UUID(cold["query_id"])
    first, second = log.recorded
    assert (first.application, first.user_query, {h.placed_by for h in first.hits}) == ("recommend", None, {"v-test"})
    assert [h.position for h in first.hits] == [1, 2]
    assert {h.placed_by for h in second.hits} == {"popularity"} and second.reason == "unknown_user"


def test_rerank_records_the_ranker_order_under_the_plugins_query_id(app):
    client, log = app
    body = client.post("/v1/rerank", json={"user_id": "u1", "hits": HITS, "query_id": "plugin-q"}).json()
    assert body["query_id"] == "plugin-q"
    [imp] = log.recorded
    assert [h.object_id for h in imp.hits] == [r["id"] for r in body["results"]]
    assert [h.position for h in imp.hits] == [1, 2, 3, 4] and imp.application == "rerank"


@pytest.mark.parametrize("bad", ["", "has space", "q" * 101, "-leading-dash", "ünï"])
def test_a_malformed_query_id_is_refused_naming_the_field(app, bad):
    client, log = app
    for r in (
        client.post("/v1/search", json={"query": "red", "query_id": bad}),
        client.post("/v1/rerank", json={"user_id": "u1", "hits": HITS, "query_id": bad}),
        client.get("/v1/recommend/u1", params={"query_id": bad}),
    ):
        assert r.status_code == 422, r.text
        assert "query_id" in r.text
    assert log.recorded == []


def test_a_full_impression_queue_never_fails_a_search():
    from ranker.feedback import ImpressionRecorder
    from tests.unit.ranker.feedback.test_impressions import ListSink

    gate = threading.Event()
    sink = ListSink(gate)  # the sink hangs (a store that does not answer) until the gate opens
    recorder = ImpressionRecorder(sink, queue_size=1, batch_size=1)
    app, _ = make_app(impressions=recorder)
    with TestClient(app) as client:
        assert client.post("/v1/search", json={"query": "red", "mode": "knn"}).status_code == 200
        assert sink.entered.wait(10)  # the writer holds the first; the queue's one place is free again
        for _ in range(3):
            assert client.post("/v1/search", json={"query": "red", "mode": "knn"}).status_code == 200
        metrics = client.get("/metrics").text
        gate.set()
    assert recorder.stats == {"queued": 2, "written": 2, "dropped": 2, "failed": 0}
    assert 'recsearch_impressions_total{outcome="dropped"} 2.0' in metrics
