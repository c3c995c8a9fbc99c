"""The service's outer surface: scopes for what reveals a user's history, the open default's guards (blank keys,
public binds, Host check, auth before the body), generic 503s, client mistakes as 422, bounded metrics labels."""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from core.errors import ConfigError
from core.settings import ServiceSettings, Settings
from ranker.service import create_app
from ranker.service.auth import ApiKeys, check_bind
from ranker.service.lazy import Lazy
from tests.fakes.service import FakeProfiles, make_app

KEYS = {"read_api_keys": "r-key", "personal_api_keys": "p-key", "write_api_keys": "w-key"}
READ, PERSONAL, WRITE = ({"X-API-Key": k} for k in ("r-key", "p-key", "w-key"))
HITS = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "A1", "score": 0.6}]


def secured(**service) -> TestClient:
    app, _ = make_app(service={**KEYS, **service})
    return TestClient(app, raise_server_exceptions=False)


def _explained(body: dict) -> list:
    return [e for r in body["results"] for e in r["explanations"]]


# --- M1: a read key sees results, not histories ------------------------------------------------------------------
def test_a_read_key_gets_no_explanations_naming_history_items_a_personal_key_does():
    c = secured()
    calls = [
        ("post", "/v1/rerank", {"user_id": "u1", "hits": HITS}),
        ("post", "/v1/search", {"query": "red", "user_id": "u1"}),
        ("get", "/v1/recommend/u1", None),
        ("get", "/v1/similar/A2?user_id=u1", None),
    ]
    for method, path, body in calls:
        read = c.request(method, path, json=body, headers=READ)
        assert read.status_code == 200 and read.json()["personalized"] is True, (path, read.text)
        assert _explained(read.json()) == [], path
        for headers in (PERSONAL, WRITE):
            mine = c.request(method, path, json=body, headers=headers).json()
            assert "A1" in {e["item_id"] for e in _explained(mine)}, path


def test_listing_users_and_their_own_purchases_need_the_personal_scope():
    c = secured()
    r = c.get("/v1/storefront/users", headers=READ)
    assert r.status_code == 403 and "'personal' scope" in r.json()["error"]
    assert c.get("/v1/storefront/users", headers=PERSONAL).json() == {"users": ["u1", "u2"]}
    r = c.get("/v1/recommend/u1?include_purchased=true", headers=READ)
    assert r.status_code == 403 and "include_purchased" in r.json()["error"]
    # u1 bought A1: a personal key gets it back (repeat purchases); a read key never does, not even by default.
    assert "A1" in [x["id"] for x in c.get("/v1/recommend/u1?k=5", headers=PERSONAL).json()["results"]]
    for path in ("/v1/recommend/u1?k=5", "/v1/recommend/u1?k=5&include_purchased=false"):
        assert "A1" not in [x["id"] for x in c.get(path, headers=READ).json()["results"]]


def test_an_open_local_service_shows_everything_as_the_demo_needs():
    app, _ = make_app()
    c = TestClient(app)
    assert "A1" in {e["item_id"] for e in _explained(c.get("/v1/recommend/u1").json())}
    assert c.get("/v1/storefront/users").json() == {"users": ["u1", "u2"]}


# --- M2: the open default's sharp edges --------------------------------------------------------------------------
@pytest.mark.parametrize("blank", ["", " ", " , ", ",,"])
@pytest.mark.parametrize("name", ["READ", "PERSONAL", "WRITE"])
def test_a_key_variable_set_but_blank_is_a_configuration_error(monkeypatch, name, blank):
    from core.settings import get_settings

    monkeypatch.setenv(f"RECSEARCH_SERVICE_{name}_API_KEYS", blank)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=f"RECSEARCH_SERVICE_{name}_API_KEYS: .*holds no key"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_an_open_service_is_refused_on_a_public_interface_unless_insecure():
    open_, keyed = ApiKeys(ServiceSettings()), ApiKeys(ServiceSettings(read_api_keys="k"))
    for host in ("0.0.0.0", "::", "10.0.0.5", "shop.example.com"):
        with pytest.raises(ConfigError, match=f"refusing to listen on {host} without API keys.*--insecure"):
            check_bind(host, open_, insecure=False)
        check_bind(host, open_, insecure=True)
        check_bind(host, keyed, insecure=False)
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind(host, open_, insecure=False)


def test_start_up_logs_whether_auth_is_on(caplog):
    with caplog.at_level(logging.INFO, logger="recsearch.service"):
        with TestClient(make_app()[0]):
            pass
        with TestClient(make_app(service=KEYS)[0]):
            pass
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.getMessage().startswith("auth:")]
    assert lines == [
        ("WARNING", "auth: off (no API keys configured: every route is open)"),
        ("INFO", "auth: on (1 read, 1 personal, 1 write keys)"),
    ]


def _plain(**service) -> TestClient:
    # No allowed_hosts override (make_app's is for TestClient's own Host): the defaults under test.
    settings = Settings(service=ServiceSettings(**service))
    app, _ = make_app()
    return TestClient(create_app(settings, deps=app.state.deps), base_url="http://localhost")


def test_a_foreign_host_header_is_refused_dns_rebinding():
    c = _plain()
    assert c.get("/v1/storefront/users", headers={"Host": "attacker.example"}).status_code == 400
    assert c.delete("/v1/users/u1", headers={"Host": "attacker.example:8000"}).status_code == 400
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert c.get("/healthz", headers={"Host": host}).status_code == 200, host
    bound = _plain(host="10.1.2.3")  # the bind host is a name clients use
    assert bound.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200
    named = _plain(allowed_hosts="shop.example, *.internal")
    assert named.get("/healthz", headers={"Host": "ranker.internal"}).status_code == 200
    assert named.get("/healthz", headers={"Host": "localhost"}).status_code == 400
    assert _plain(allowed_hosts="*").get("/healthz", headers={"Host": "any.example"}).status_code == 200


# --- L9: /metrics and the API docs behind a key; no body read before auth ----------------------------------------
def test_metrics_and_docs_can_be_put_behind_a_read_key():
    assert secured().get("/metrics").status_code == 200  # the default: open, as before
    c = secured(protect_metrics_and_docs=True)
    for path in ("/metrics", "/openapi.json", "/docs", "/redoc"):
        assert c.get(path).status_code == 401, path
        assert c.get(path, headers=READ).status_code == 200, path
    assert c.get("/healthz").status_code == 200


def test_an_unauthenticated_request_is_refused_before_its_body_is_read():
    c = secured()
    r = c.post("/v1/search", content=b'{"query": "not json', headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"  # not the 422 of parsing it

    app = c.app
    read: list = []
    sent: list = []

    async def receive():
        read.append(1)
        return {"type": "http.request", "body": b'{"query": "red"}', "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/search", "raw_path": b"/v1/search", "query_string": b"",
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")], "http_version": "1.1",
             "scheme": "http", "server": ("testserver", 80), "client": ("1.2.3.4", 5), "root_path": "",
             "app": app}  # fmt: skip
    import asyncio

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401 and read == []


# --- M3: generic 503s -------------------------------------------------------------------------------------------
def test_a_part_that_cannot_load_is_a_generic_503_its_cause_only_in_the_log(caplog):
    app, _ = make_app()

    def broken():
        raise OSError("cannot open /srv/secret/recsearch.db as postgres:pw@db")

    app.state.deps.profiles = Lazy("profile_store", broken)
    with caplog.at_level(logging.WARNING, logger="recsearch.service"):
        r = TestClient(app).post(
            "/v1/events", json={"events": [{"user_id": "u", "item_id": "A1", "type": "view", "event_id": "e1"}]}
        )
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json() == {"error": "profile_store is unavailable; retry later", "reason": "profile_store_unavailable",
                        "retry_after_s": 5}  # fmt: skip
    assert "/srv/secret" in caplog.text


# --- L1: client mistakes are 422 naming the field; a locked store is 503 -----------------------------------------
@pytest.mark.parametrize(
    ("vector", "field"),
    [
        ("[NaN, 0.5, 0.5, 0.5]", "vector[0]"),
        ("[0.5, Infinity, 0.5, 0.5]", "vector[1]"),
        ("[0.5, 0.5, 0.5, -Infinity]", "vector[3]"),
        ("[0, 0, 0, 0]", "vector"),
        ("[1e30, 1e30, 1e30, 1e30]", "vector"),  # finite, but its float32 length overflows
        ("[]", "vector"),
        ("[" + ",".join(["0.5"] * 16001) + "]", "vector"),
    ],
)
def test_bad_query_vectors_are_422_naming_the_field_not_503(vector, field):
    app, _ = make_app()
    c = TestClient(app, raise_server_exceptions=False)
    body = '{"query": "red", "mode": "knn", "vector": ' + vector + "}"
    r = c.post("/v1/search", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(f"field '{field}'")


def test_a_wrong_length_vector_is_422_even_before_the_dimension_is_known():
    app, fakes = make_app()
    deps = app.state.deps
    deps.vectors = Lazy("item_vectors", lambda: fakes["vectors"])  # not loaded yet
    deps.embedder = Lazy("embedder", lambda: fakes["embedder"])
    assert deps.vector_dimension() is None
    r = TestClient(app, raise_server_exceptions=False).post("/v1/search", json={"query": "red", "vector": [1.0, 2.0]})
    assert r.status_code == 422 and r.json()["error"] == "field 'vector': expected 4 numbers, got 2"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "post",
            "/v1/events",
            {"events": [{"user_id": "u\x00", "item_id": "A1", "type": "view", "event_id": "e1"}]},
            "events[0].user_id",
        ),
        (
            "post",
            "/v1/events",
            {"events": [{"user_id": "u", "item_id": "A\x001", "type": "view", "event_id": "e1"}]},
            "events[0].item_id",
        ),
        ("post", "/v1/rerank", {"user_id": "u1", "hits": [{"id": "A\x00", "score": 1}]}, "hits[0].id"),
        ("post", "/v1/rerank", {"user_id": "\x00", "hits": []}, "user_id"),
        ("post", "/v1/search", {"query": "red", "user_id": "u\x00"}, "user_id"),
        ("get", "/v1/recommend/u%001", None, "user_id"),
        ("get", "/v1/similar/A1?user_id=%00", None, "user_id"),
        ("get", "/v1/users/u%00/export", None, "user_id"),
    ],
)
def test_nul_characters_in_ids_are_422_naming_the_field(method, path, body, field):
    app, fakes = make_app()
    r = TestClient(app, raise_server_exceptions=False).request(method, path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(f"field '{field}': Value error, must not contain NUL characters")


class LockedProfiles(FakeProfiles):
    """Writes go to a real SQLite file whose write lock another connection holds past the busy timeout."""

    def __init__(self, path):
        super().__init__()
        self.engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
        with self.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE events (user_id TEXT)")
        self.holder = sqlite3.connect(path, isolation_level=None)
        self.holder.execute("BEGIN IMMEDIATE")

    def ingest(self, events):
        with self.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO events VALUES (:u)"), [{"u": e.user_id} for e in events])


def test_a_store_still_locked_after_busy_timeout_is_503_with_retry_after_not_500(tmp_path):
    profiles = LockedProfiles(tmp_path / "store.db")
    app, _ = make_app(profiles=profiles)
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/v1/events", json={"events": [{"user_id": "u", "item_id": "A1", "type": "view", "event_id": "e1"}]})
    profiles.holder.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
    assert r.json()["reason"] == "store_unavailable" and "INSERT" not in r.text


# --- L3: metrics labels stay bounded ------------------------------------------------------------------------------
def test_unknown_http_methods_are_counted_as_other():
    app, _ = make_app()
    c = TestClient(app)
    for n in range(3):
        c.request(f"M{n}", "/healthz")
    c.get("/healthz")
    text = c.get("/metrics").text
    assert 'method="M' not in text
    assert 'recsearch_requests_total{method="OTHER",route="/healthz",status="405"} 3.0' in text
    assert 'method="GET",route="/healthz"' in text


# --- L6: hit scores beyond float32 --------------------------------------------------------------------------------
def test_hit_scores_beyond_float32_are_422_and_the_largest_allowed_give_finite_scores():
    app, _ = make_app()
    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/v1/rerank", json={"user_id": "u1", "hits": [{"id": "A1", "score": 1e39}, {"id": "B1", "score": 1}]})
    assert r.status_code == 422 and r.json()["error"].startswith("field 'hits[0].score'")
    edge = [{"id": "A1", "score": 1e38}, {"id": "B1", "score": -1e38}, {"id": "A2", "score": 0}]
    body = json.loads(c.post("/v1/rerank", json={"user_id": "u1", "hits": edge}).text)
    assert all(isinstance(x["score"], float) for x in body["results"])


@pytest.mark.parametrize("bound", ["min_price", "max_price"])
def test_a_price_filter_beyond_the_index_range_is_422_naming_the_field(bound):
    """Found by the API fuzz suite: a price bound of 1.5e308 went to OpenSearch, which refused the query (a 503)."""
    http = TestClient(make_app()[0])
    r = http.post("/v1/search", json={"query": "mug", "filters": {bound: 1.5e308}})
    assert r.status_code == 422 and r.json()["error"].startswith(f"field 'filters.{bound}'"), r.text
    assert http.post("/v1/search", json={"query": "mug", "filters": {bound: 5.0}}).status_code == 200
