"""Access and input limits: API key scopes, 4xx naming the field for invalid or oversized requests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.fakes.service import make_app

HITS = [{"id": "A1", "score": 0.5}]
EVENT = {"events": [{"user_id": "u9", "item_id": "A1", "type": "purchase", "ts": "2011-12-01T10:00:00"}]}


def _event(**fields) -> dict:
    event = {**EVENT["events"][0], **fields}
    return {"events": [{k: v for k, v in event.items() if v is not None}]}


@pytest.fixture
def secured() -> TestClient:
    app, _ = make_app(service={"read_api_keys": "r-key,r-key-2", "write_api_keys": "w-key"})
    return TestClient(app)


def test_listens_on_localhost_by_default():
    from core.settings import ServiceSettings

    assert ServiceSettings().host == "127.0.0.1"


def test_no_or_unknown_key_is_401(secured):
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        r = secured.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}, headers=headers)
        assert r.status_code == 401 and "API key" in r.json()["error"]


def test_read_key_reads_but_may_not_write(secured):
    for headers in ({"X-API-Key": "r-key"}, {"Authorization": "Bearer r-key-2"}):
        assert secured.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}, headers=headers).status_code == 200
        assert secured.get("/v1/recommend/u1", headers=headers).status_code == 200
        assert secured.post("/v1/search", json={"query": "red"}, headers=headers).status_code == 200
        r = secured.post("/v1/events", json=EVENT, headers=headers)
        assert r.status_code == 403 and "'write' scope" in r.json()["error"]
        assert secured.delete("/v1/users/u1", headers=headers).status_code == 403


def test_write_key_writes_and_reads(secured):
    headers = {"Authorization": "Bearer w-key"}
    assert secured.post("/v1/events", json=EVENT, headers=headers).status_code == 200
    assert secured.delete("/v1/users/u9", headers=headers).status_code == 200
    assert secured.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}, headers=headers).status_code == 200


def test_health_and_page_need_no_key(secured):
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/").status_code == 200
    assert secured.get("/v1/storefront/users").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/v1/rerank", {"user_id": "u1", "hits": [{"id": "A1", "score": "high"}]}, "hits[0].score"),
        ("post", "/v1/rerank", {"user_id": "u1", "hits": [{"id": 7, "score": 1}]}, "hits[0].id"),
        ("post", "/v1/rerank", {"user_id": "u1", "hits": [{"id": "", "score": 1}]}, "hits[0].id"),
        ("post", "/v1/rerank", {"user_id": "u1"}, "hits"),
        ("post", "/v1/rerank", {"user": "u1", "hits": []}, "user"),
        ("post", "/v1/rerank", {"user_id": "u1", "hits": [{"id": "A", "score": 1}] * 11}, "hits"),
        ("post", "/v1/search", {"query": ""}, "query"),
        ("post", "/v1/search", {"query": "   "}, "query"),
        ("post", "/v1/search", {"query": "red", "k": 0}, "k"),
        ("post", "/v1/search", {"query": "red", "k": 51}, "k"),
        ("post", "/v1/search", {"query": "red", "vector": [1, 2]}, "vector"),
        ("post", "/v1/search", {"query": "red", "filters": {"colour": "red"}}, "filters.colour"),
        ("get", "/v1/recommend/u1?k=abc", None, "k"),
        ("get", "/v1/recommend/u1?k=500", None, "k"),
        ("get", "/v1/similar/A1?k=-1", None, "k"),
        ("post", "/v1/events", {"events": [{"user_id": "u1", "item_id": "A1", "type": "Bad Type!"}]}, "events[0].type"),
        ("post", "/v1/events", {"events": [{"item_id": "A1", "type": "view"}]}, "events[0].user_id"),
        ("post", "/v1/events", {"events": [EVENT["events"][0]] * 6}, "events"),
        # H3: times that overflow once converted to UTC, or lie outside 1970 .. now + 1 day
        ("post", "/v1/events", _event(ts="0001-01-01T00:00:00+01:00"), "events[0].ts"),
        ("post", "/v1/events", _event(ts="9999-12-31T23:00:00-05:00"), "events[0].ts"),
        ("post", "/v1/events", _event(ts="0999-06-01T00:00:00"), "events[0].ts"),
        ("post", "/v1/events", _event(ts="2300-01-01T00:00:00"), "events[0].ts"),
        ("post", "/v1/events", _event(ts="1969-12-31T23:59:59Z"), "events[0].ts"),
        # M8: without an event id or a time, a retried request would be stored twice
        ("post", "/v1/events", _event(ts=None), "events[0].ts"),
        # NUL characters (PostgreSQL refuses them)
        ("post", "/v1/events", _event(user_id="u\u00001"), "events[0].user_id"),
        ("post", "/v1/events", _event(item_id="A\u00001"), "events[0].item_id"),
        ("post", "/v1/events", _event(event_id="e\u00001"), "events[0].event_id"),
        ("post", "/v1/events", _event(type="search", query="red\u0000mug"), "events[0].query"),
        ("post", "/v1/events", _event(session_id="s\u0000"), "events[0].session_id"),
    ],
)
def test_invalid_or_oversized_requests_are_422_naming_the_field(method, path, body, field):
    app, _ = make_app(service={"max_hits": 10, "max_k": 50, "max_events": 5})
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post(path, json=body) if method == "post" else c.get(path)
    assert r.status_code == 422, r.text
    assert f"field '{field}'" in r.json()["error"]


def test_bodies_over_the_size_limit_are_413_before_parsing():
    app, fakes = make_app(service={"max_request_bytes": 2000})
    c = TestClient(app)
    big = {"user_id": "u1", "hits": [{"id": f"item-{n}", "score": 0.5} for n in range(200)]}
    r = c.post("/v1/rerank", json=big)
    assert r.status_code == 413 and "body" in r.json()["error"] and "2000 bytes" in r.json()["error"]
    assert fakes["ranker"].calls == 0

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        yield b'{"user_id": "u1", "hits": ['
        for n in range(200):
            yield b'{"id": "x%d", "score": 0.5},' % n
        yield b'{"id": "last", "score": 0.5}]}'

    r = c.post("/v1/rerank", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    small = c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS})
    assert small.status_code == 200


def test_an_events_key_posts_page_events_with_a_query_id_and_nothing_else():
    """The storefront's key: it reads results and posts what a shopper did with one, never writes anything else."""
    app, _ = make_app(service={"read_api_keys": "r-key", "write_api_keys": "w-key", "event_api_keys": "e-key"})
    client, headers = TestClient(app), {"X-API-Key": "e-key"}
    for type_ in ("click", "add_to_cart", "purchase", "view"):
        r = client.post("/v1/events", json=_event(type=type_, query_id="q-1"), headers=headers)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    r = client.post("/v1/events", json=_event(), headers=headers)
    assert r.status_code == 422 and r.json()["error"].startswith("field 'events[0].query_id': an events-scope key")
    r = client.post("/v1/events", json=_event(type="refund", query_id="q-1"), headers=headers)
    assert r.status_code == 422 and "field 'events[0].type'" in r.json()["error"]
    assert client.post("/v1/events", json=_event(type="refund"), headers={"X-API-Key": "w-key"}).status_code == 200
    assert client.post("/v1/search", json={"query": "red"}, headers=headers).status_code == 200
    assert client.delete("/v1/users/u9", headers=headers).status_code == 403
    assert client.get("/v1/users/u9/export", headers=headers).status_code == 403
    assert client.get("/v1/storefront/users", headers=headers).status_code == 403
    r = client.post("/v1/events", json=_event(query_id="q-1"), headers={"X-API-Key": "r-key"})
    assert r.status_code == 403 and "'write' scope" in r.json()["error"]


def test_the_storefront_config_is_open_and_names_the_shop_and_its_currency():
    app, _ = make_app(service={"read_api_keys": "r-key", "shop_name": "Maple & Co", "currency": "GBP"})
    assert TestClient(app).get("/storefront/config").json() == {"shop_name": "Maple & Co", "currency": "GBP"}


def test_a_currency_that_is_no_iso_code_is_refused_naming_the_variable(monkeypatch):
    from core.errors import ConfigError
    from core.settings import get_settings

    monkeypatch.setenv("RECSEARCH_SERVICE_CURRENCY", "pounds")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="RECSEARCH_SERVICE_CURRENCY"):
            get_settings()
    finally:
        get_settings.cache_clear()
