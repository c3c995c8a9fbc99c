"""The event loop never waits on the database (review H2): a real uvicorn server over a real SQLite profile store
whose write lock another connection holds (an import, `feedback sync-catalog`) while writes pile up on it."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime

import httpx
import pytest

from core.settings import ServiceSettings, Settings, StoreSettings
from core.store import open_store
from ranker.feedback import EventIn, ProfileStore
from ranker.service import ServiceDeps, create_app
from tests.builders.service_stack import ServerThread, free_port
from tests.fakes.service import FakeActivity, FakeIndex, FakeRanker, FakeVectors, _Embedder

HITS = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "A1", "score": 0.6}]


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "store.db"
    settings = Settings(store=StoreSettings(url=f"sqlite:///{path}"), service=ServiceSettings(profile_deadline_ms=2000))
    engine = open_store(settings.store)
    store = ProfileStore(engine, settings)
    store.ingest([EventIn(user_id="u1", item_id="A1", type="purchase", ts=datetime(2011, 12, 1))])
    deps = ServiceDeps(settings, profiles=store, ranker=FakeRanker(), index=FakeIndex(), vectors=FakeVectors(),
                       embedder=_Embedder(), activity=FakeActivity())  # fmt: skip
    server, thread = ServerThread(create_app(settings, deps=deps), free_port()).start()
    yield f"http://127.0.0.1:{server.config.port}", path, engine
    server.should_exit = True
    thread.join(timeout=10)


def test_a_locked_store_leaves_healthz_prompt_and_rerank_in_retrieval_order_by_its_deadline(served):
    url, path, engine = served
    with httpx.Client(base_url=url, timeout=60) as http:
        warm = http.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()
        assert warm["personalized"] is True  # profile store and model loaded: the old inline path
    capacity = engine.pool.size() + engine.pool._max_overflow
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # what an import holds: every write waits for it (busy_timeout)
    events: list[int] = []

    def post_event(n: int) -> None:
        body = {"events": [{"event_id": f"w{n}", "user_id": f"w{n}", "item_id": "A1", "type": "view"}]}
        events.append(httpx.post(f"{url}/v1/events", json=body, timeout=60).status_code)

    writers = [threading.Thread(target=post_event, args=(n,)) for n in range(capacity)]
    try:
        for w in writers:
            w.start()
        deadline = time.monotonic() + 30
        while engine.pool.checkedout() < capacity:  # every pooled connection held by a waiting write
            assert time.monotonic() < deadline, f"only {engine.pool.checkedout()} of {capacity} connections held"
            time.sleep(0.05)
        done: dict = {}

        def rerank() -> None:
            t0 = time.monotonic()
            r = httpx.post(f"{url}/v1/rerank", json={"user_id": "u1", "hits": HITS}, timeout=60)
            done.update(response=r, seconds=time.monotonic() - t0, at=time.monotonic())

        reader = threading.Thread(target=rerank)
        reader.start()
        time.sleep(0.2)  # the rerank is waiting for a connection now
        t0 = time.monotonic()
        health = httpx.get(f"{url}/healthz", timeout=5)
        health_at = time.monotonic()
        assert health.status_code == 200 and health_at - t0 < 1.5
        reader.join(timeout=30)
        assert not events  # the writes are still waiting on the lock
    finally:
        lock.rollback()
        lock.close()
        for w in writers:
            w.join(timeout=60)
    body = done["response"].json()
    assert (body["personalized"], body["reason"]) == (False, "profile_store_timeout")
    assert [(r["id"], r["score"]) for r in body["results"]] == [(h["id"], h["score"]) for h in HITS]
    assert health_at < done["at"]  # /healthz answered while the rerank waited
    assert done["seconds"] < 10  # by its 2 s deadline, not the pool's timeout
    assert events == [200] * capacity  # the writes went through once the lock was released
