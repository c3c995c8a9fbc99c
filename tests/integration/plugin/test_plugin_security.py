"""The plugin on the real node against rankers that misbehave or are not the ranker (security review H1, M3, M7, L8).

Who may make the node call what: a pipeline written inside a search request is refused, a stored pipeline may only
name a URL of the node's allow-list (the test node allows http://127.0.0.1:*, tests/conftest.py). What comes back:
a reason code, never the peer's answer. What a peer can hold: nothing past timeout_ms, no reply over the size cap."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import ConfigError
from core.opensearch.client import make_client
from core.settings import PipelineSettings, Settings
from indexer.search_pipeline import install_pipeline, pipeline_status, remove_pipeline
from tests.builders.service_stack import HEART_USER
from tests.conftest import TEST_KEYSTORE_KEY

pytestmark = pytest.mark.integration

QUERY = {
    "size": 10,
    "query": {"multi_match": {"query": "heart t-light holder", "fields": ["title^2", "enriched_text"]}},
}


@pytest.fixture(scope="module")
def client(stack):
    return make_client(stack.settings.opensearch)


class Recorder:
    """An HTTP server on loopback that records each request and answers with the status and body a test sets."""

    def __init__(self):
        self.requests: list[dict] = []
        self.gets: list[dict] = []  # the node's warm-up calls (GET /healthz when a pipeline is created)
        self.status, self.body = 200, b"{}"
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                recorder.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": self.rfile.read(length)}
                )
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(recorder.body)))
                self.end_headers()
                self.wfile.write(recorder.body)

            def do_GET(self):  # noqa: N802
                recorder.gets.append({"path": self.path, "auth": self.headers.get("Authorization")})
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.close()


class Trickler:
    """A raw peer that sends its headers at once, then one body byte every 100 ms for up to a minute; it notes
    when the node closes the connection (a write fails)."""

    def __init__(self, content_length: int):
        self.head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n{{"
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed_after_s: list[float] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn):
        start = time.monotonic()
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.head.encode())
                for _ in range(600):
                    time.sleep(0.1)
                    conn.sendall(b" ")
            except OSError:
                self.closed_after_s.append(time.monotonic() - start)

    def close(self):
        self.sock.close()


def _install(stack, url: str, **fields) -> Settings:
    p = PipelineSettings(name=f"test-sec-{uuid.uuid4().hex[:8]}", ranker_url=url, **fields)
    s = stack.settings.model_copy(update={"pipeline": p})
    install_pipeline(s)
    return s


def _search(client, stack, body: dict, pipeline: str | None = None, user: str = HEART_USER) -> dict:
    body = {**body, "ext": {"personalize": {"user_id": user}}}
    params = {"search_pipeline": pipeline} if pipeline else {}
    return client.search(index=stack.settings.opensearch.index_alias, body=body, params=params)


def test_a_pipeline_written_in_the_search_request_is_refused_and_calls_nothing(stack, client, recorder):
    from opensearchpy.exceptions import TransportError

    inline = {"response_processors": [{"personalized_rerank": {"ranker_url": recorder.url, "ignore_failure": True}}]}
    with pytest.raises(TransportError) as refused:
        _search(client, stack, {**QUERY, "search_pipeline": inline})
    assert refused.value.status_code == 400
    assert "pipeline defined in the search request" in json.dumps(refused.value.info)
    assert recorder.requests == [] and recorder.gets == []


@pytest.mark.parametrize("url", ["http://localhost:{port}", "http://10.255.255.1:9200/idx/_doc"])
def test_a_stored_pipeline_to_a_url_outside_the_allow_list_is_refused_at_creation(stack, recorder, url):
    url = url.format(port=recorder.url.rsplit(":", 1)[1])
    p = PipelineSettings(name=f"test-sec-{uuid.uuid4().hex[:8]}", ranker_url=url)
    s = stack.settings.model_copy(update={"pipeline": p})
    with pytest.raises(ConfigError) as refused:
        install_pipeline(s)
    message = str(refused.value)
    assert "recsearch.rerank.allowed_urls" in message and url.split("/idx")[0] in message
    assert "RECSEARCH_PIPELINE_RANKER_URL" in message
    assert pipeline_status(s).installed is False
    assert recorder.gets == [] and recorder.requests == []  # not even warmed


def test_a_stored_pipeline_warms_its_ranker_connection_with_one_unauthenticated_health_check(stack, recorder):
    s = _install(stack, recorder.url, timeout_ms=5000)
    try:
        deadline = time.monotonic() + 10
        while not recorder.gets and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        remove_pipeline(s)
    assert recorder.gets and {g["path"] for g in recorder.gets} == {"/healthz"}
    assert all(g["auth"] is None for g in recorder.gets)  # the key is for /v1/rerank only
    assert recorder.requests == []  # no rerank asked, so nothing recorded as an answer


def test_the_keystore_key_is_sent_and_the_stored_pipeline_holds_no_key(stack, client, recorder):
    recorder.body = json.dumps(
        {"user_id": HEART_USER, "personalized": False, "reason": "unknown_user", "model_version": None, "results": []}
    ).encode()
    s = _install(stack, recorder.url, api_key="in-settings-only", timeout_ms=5000)
    try:
        stored = client.search_pipeline.get(id=s.pipeline.name)
        assert "in-settings-only" not in json.dumps(stored) and "api_key" not in json.dumps(stored)
        out = _search(client, stack, QUERY, s.pipeline.name)
    finally:
        remove_pipeline(s)
    assert out["ext"]["personalized_rerank"]["reason"] == "unknown_user"
    assert [r["auth"] for r in recorder.requests] == [f"Bearer {TEST_KEYSTORE_KEY}"]


def test_a_ranker_failure_reaches_the_client_as_a_reason_code_only(stack, client, recorder):
    recorder.status, recorder.body = 501, b"<!DOCTYPE html><p>internal admin page: secret-token-123</p>"
    s = _install(stack, recorder.url, timeout_ms=5000)
    try:
        out = _search(client, stack, QUERY, s.pipeline.name)
    finally:
        remove_pipeline(s)
    outcome = out["ext"]["personalized_rerank"]
    assert (outcome["personalized"], outcome["reason"]) == (False, "ranker_error")
    assert len(recorder.requests) == 1  # it was called; what it said stays on the node
    text = json.dumps(out)
    assert "secret-token-123" not in text and recorder.url not in text and "detail" not in outcome


def test_a_user_id_longer_than_the_ranker_accepts_is_refused_naming_the_field(stack, client, recorder):
    from opensearchpy.exceptions import TransportError

    s = _install(stack, recorder.url, timeout_ms=5000)
    try:
        with pytest.raises(TransportError) as refused:
            _search(client, stack, QUERY, s.pipeline.name, user="u" * 201)
        assert _search(client, stack, QUERY, s.pipeline.name, user="u" * 200)["hits"]["hits"]
    finally:
        remove_pipeline(s)
    assert refused.value.status_code == 400
    assert "[ext.personalize.user_id] must be at most 200 characters" in json.dumps(refused.value.info)
    assert len(recorder.requests) == 1  # only the 200-character id was sent


def test_a_reply_over_the_size_cap_is_refused_unread(stack, client):
    huge = Trickler(content_length=100_000_000)  # over the default cap of 4 MB (recsearch.rerank.max_response_bytes)
    s = _install(stack, huge.url, timeout_ms=5000)
    try:
        out = _search(client, stack, QUERY, s.pipeline.name)
    finally:
        remove_pipeline(s)
        huge.close()
    assert out["ext"]["personalized_rerank"]["reason"] == "ranker_reply_too_large"


def test_a_trickling_reply_is_cut_off_at_the_timeout_and_its_connection_closed(stack, client):
    trickler = Trickler(content_length=1000)
    s = _install(stack, trickler.url, timeout_ms=500)
    try:
        out = _search(client, stack, QUERY, s.pipeline.name)
        deadline = time.monotonic() + 20
        while not trickler.closed_after_s and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        remove_pipeline(s)
        trickler.close()
    assert out["ext"]["personalized_rerank"]["reason"] == "ranker_timeout"
    # The node hung up (the peer had a minute of trickling left): no thread or connection is held for it.
    assert trickler.closed_after_s, "the node kept reading a trickling reply past timeout_ms"
