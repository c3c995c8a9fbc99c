"""Impressions on the real parts: a /v1/search answer of the real service (real node, MiniLM) is recorded under its
query_id in the real store (SQLite and PostgreSQL) or in an OpenSearch index on the real node, and events that
carry that query_id (live /v1/events, or `feedback import --format ubi`) are attributed to the right position."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.settings import StoreSettings, UbiSettings
from core.store import open_store
from ranker.feedback import OpenSearchImpressions, StoreImpressions, attribute, import_file, report_ubi
from ranker.feedback.tables import UbiHitRow, UbiQueryRow
from ranker.service import create_app
from tests.builders.service_stack import HEART_USER

pytestmark = pytest.mark.integration

QUERY = {"query": "heart t-light holder", "user_id": HEART_USER, "mode": "knn", "k": 5, "offset": 5}


def _service(stack, **update):
    service = stack.settings.service.model_copy(update={"allowed_hosts": "testserver"})
    return create_app(stack.settings.model_copy(update={"service": service, **update}))


def _click(client, query_id: str, item: str) -> None:
    event = {"user_id": HEART_USER, "item_id": item, "type": "click", "query_id": query_id,
             "ts": datetime.now(UTC).isoformat()}  # fmt: skip
    assert client.post("/v1/events", json={"events": [event]}).status_code == 200


def test_a_search_is_recorded_in_the_store_and_a_click_is_attributed_to_its_position(stack, store_url):
    settings = stack.settings.model_copy(update={"store": StoreSettings(url=store_url)})
    with TestClient(_service(stack, store=settings.store)) as client:
        body = client.post("/v1/search", json=QUERY).json()
        query_id = body["query_id"]
        ids = [r["id"] for r in body["results"]]
        _click(client, query_id, ids[2])  # the third result of page 2: position 8
        assert client.app.state.deps.impressions.flush(30)
    engine = open_store(settings.store)
    with engine.connect() as conn:
        [answer] = conn.execute(select(UbiQueryRow.__table__).where(UbiQueryRow.__table__.c.query_id == query_id))
        hits = conn.execute(select(UbiHitRow.__table__.c.object_id, UbiHitRow.__table__.c.position)
                            .where(UbiHitRow.__table__.c.query_id == query_id)
                            .order_by(UbiHitRow.__table__.c.position)).all()  # fmt: skip
    assert (answer.application, answer.client_id, answer.user_query) == ("search", HEART_USER, QUERY["query"])
    assert hits == [(i, 6 + n) for n, i in enumerate(ids)]
    done = attribute(engine, StoreImpressions(lambda: engine))
    assert [(e.item_id, e.position, e.type) for e in done.events] == [(ids[2], 8, "click")]
    report = report_ubi(settings, max_position=10)
    assert report.answers == 1 and report.attributed == 1
    assert report.positions[7].events == {"click": 1} and report.positions[7].ctr == 1.0
    assert report.positions[0].shown == 0 and report.positions[5].shown == 1  # page 2 shows places 6 to 10


def test_a_ubi_events_file_is_attributed_by_its_query_id(stack, tmp_path):
    settings = stack.settings.model_copy(update={"store": StoreSettings(url=f"sqlite:///{tmp_path / 's.db'}")})
    with TestClient(_service(stack, store=settings.store)) as client:
        body = client.post("/v1/search", json={**QUERY, "offset": 0}).json()
        assert client.app.state.deps.impressions.flush(30)
    ids = [r["id"] for r in body["results"]]
    events = [
        {"action_name": "product_click", "client_id": HEART_USER, "query_id": body["query_id"],
         "timestamp": "2024-05-01T10:00:00Z", "event_attributes": {"object": {"object_id": ids[1]}}},
        {"action_name": "add_to_cart", "client_id": HEART_USER, "query_id": body["query_id"],
         "timestamp": "2024-05-01T10:01:00Z", "event_attributes": {"object": {"object_id": ids[1]}}},
        {"action_name": "product_click", "client_id": HEART_USER, "query_id": "not-shown",
         "timestamp": "2024-05-01T10:02:00Z", "event_attributes": {"object": {"object_id": ids[0]}}},
    ]  # fmt: skip
    path = tmp_path / "ubi_events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    import_file(settings, path, fmt="ubi", check_catalog=False)
    report = report_ubi(settings, max_position=5)
    assert (report.events_with_query_id, report.attributed, report.unattributed) == (3, 2, 1)
    assert report.positions[1].events == {"add_to_cart": 1, "click": 1}


def test_the_opensearch_sink_writes_ubi_queries_documents(stack, tmp_path):
    store = StoreSettings(url=f"sqlite:///{tmp_path / 's.db'}")  # the click goes here, not into the shared stack
    index = f"test-ubi-{uuid.uuid4().hex[:8]}"
    ubi = UbiSettings(sink="opensearch", index=index, flush_interval_s=0.05)
    sink = OpenSearchImpressions(stack.settings.opensearch, index)
    try:
        with TestClient(_service(stack, ubi=ubi, store=store)) as client:
            body = client.post("/v1/search", json={**QUERY, "query_id": "shop-q-7"}).json()
            ids = [r["id"] for r in body["results"]]
            _click(client, "shop-q-7", ids[0])
            assert client.app.state.deps.impressions.flush(30)
            assert client.app.state.deps.impressions.stats["written"] == 1
        sink.refresh()
        found = sink.client.search(index=index, body={"query": {"term": {"query_id": "shop-q-7"}}})
        [doc] = [h["_source"] for h in found["hits"]["hits"]]
        assert doc["query_response_hit_ids"] == ids and doc["client_id"] == HEART_USER
        assert doc["query_attributes"]["positions"] == [6, 7, 8, 9, 10]
        assert doc["user_query"] == QUERY["query"] and doc["application"] == "search"
        mapping = sink.client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        assert mapping["query_id"]["type"] == "keyword" and mapping["timestamp"]["type"] == "date"
        engine = open_store(store)
        clicks = [e for e in attribute(engine, sink).events if e.query_id == "shop-q-7"]
        assert [(e.item_id, e.position) for e in clicks] == [(ids[0], 6)]
    finally:
        sink.client.indices.delete(index=index, ignore_unavailable=True)


def test_a_sink_that_is_down_costs_no_search(stack):
    from core.settings import OpenSearchSettings

    down = OpenSearchSettings(url="http://127.0.0.1:9", max_retries=0, timeout_s=1)
    ubi = UbiSettings(sink="opensearch", index="never", flush_interval_s=0.01)
    app = _service(stack, ubi=ubi)
    app.state.deps.impressions.sink = OpenSearchImpressions(down, "never")
    with TestClient(app) as client:
        assert client.post("/v1/search", json=QUERY).status_code == 200
        assert app.state.deps.impressions.flush(30)
        assert app.state.deps.impressions.stats["failed"] == 1
        assert 'recsearch_impressions_total{outcome="failed"} 1.0' in client.get("/metrics").text
