"""Fault injection: the ranking service is killed (SIGKILL) and restarted under the plugin during a stream of searches.

The session's node with the project's plugin, the service stack of tests/builders/service_stack.py (index, SQLite
store, registered model, a user with a purchase history), and `recadmin serve` over the same settings as a real
subprocess on a free port, behind a search pipeline with ``ignore_failure: true`` (as `recadmin pipeline install`
stores it). Two shop clients search for that user without pause while the test kills the service and starts it
again. What a shop must see: every search answered (200, every hit), either reranked or in OpenSearch's own order
and flagged in ``ext.personalized_rerank`` with a reason code; the fallbacks only while the service is gone; reranked
answers again once the restarted service says it is ready."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.bench_service import serve
from core.opensearch.client import make_client
from core.settings import PipelineSettings, Settings
from indexer.search_pipeline import install_pipeline, remove_pipeline
from tests.builders.service_stack import HEART_USER, free_port
from tests.paths import ROOT

pytestmark = pytest.mark.integration

MATCH = {"multi_match": {"query": "heart t-light holder", "fields": ["title^2", "enriched_text"]}}
QUERY = {"size": 40, "query": MATCH}
CLIENTS = 2
PACE_S = 0.05  # each client's pause between searches: a few hundred searches over the test, not tens of thousands
#: Searches answered (by the old service, then by the restarted one) before the kill and after the restart.
BEFORE, AFTER = 60, 60
#: Fallbacks seen before the service is started again: the outage is long enough to be a stream, not one request.
DURING = 20
#: What the plugin says when it cannot reach, or hear from, the ranker; or the ranker's own reason while it warms up.
OUTAGE_REASONS = {"ranker_unreachable", "ranker_failed", "ranker_error", "ranker_timeout", "model_unavailable"}


@dataclass
class Answer:
    started: float
    ended: float
    status: int | None  # None: no HTTP answer at all
    ids: list[str]
    outcome: dict | None


def _serve(settings: Settings, port: int, log: Path) -> subprocess.Popen:
    """``recadmin serve`` of this checkout over ``settings`` (bench/bench_service.py's), its stderr in ``log``."""
    deadline = {"RECSEARCH_SERVICE_PROFILE_DEADLINE_MS": str(settings.service.profile_deadline_ms)}
    with log.open("a") as err:
        return serve(settings, port, deadline, stderr=err, cwd=ROOT)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    """Until /readyz says ready (model loaded): the restarted service is only then expected to rerank."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the service exited: {log.read_text()[-2000:]}"
        try:
            r = httpx.get(f"{url}/readyz", timeout=5)
            if r.status_code == 200 and r.json()["status"] == "ready":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the service did not get ready: {log.read_text()[-2000:]}")


class SearchStream:
    """``CLIENTS`` threads searching the alias through the pipeline for one user until stopped."""

    def __init__(self, settings: Settings, pipeline: str):
        self.settings, self.pipeline = settings, pipeline
        self.answers: list[Answer] = []
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        # No retries: a search the node does not answer counts as an error, as a shop's user would see it.
        client = make_client(self.settings.opensearch.model_copy(update={"max_retries": 0}))
        body = dict(QUERY, ext={"personalize": {"user_id": HEART_USER}})
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                r = client.search(
                    index=self.settings.opensearch.index_alias, body=body, params={"search_pipeline": self.pipeline}
                )
                outcome = (r.get("ext") or {}).get("personalized_rerank")
                answer = Answer(started, time.monotonic(), 200, _ids(r), outcome)
            except Exception as e:  # any failure to answer is what the test counts
                answer = Answer(started, time.monotonic(), getattr(e, "status_code", None), [], None)
            with self.lock:
                self.answers.append(answer)
            time.sleep(PACE_S)

    def __enter__(self) -> SearchStream:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def wait(self, what, n: int, timeout: float = 120) -> None:
        """Until ``n`` answers satisfy ``what``."""
        deadline = time.monotonic() + timeout
        while sum(1 for a in self.snapshot() if what(a)) < n:
            assert time.monotonic() < deadline, f"fewer than {n} such answers in {timeout} s"
            time.sleep(0.05)

    def snapshot(self) -> list[Answer]:
        with self.lock:
            return list(self.answers)


def _ids(response: dict) -> list[str]:
    return [h["_source"]["item_id"] for h in response["hits"]["hits"]]


def _reranked(a: Answer) -> bool:
    return a.outcome is not None and a.outcome.get("personalized") is True


@pytest.fixture
def ranker(stack, tmp_path):
    """`recadmin serve` over the stack's settings as a subprocess, and a pipeline that calls it."""
    port = free_port()
    url, log = f"http://127.0.0.1:{port}", tmp_path / "serve.log"
    # The window (max_hits) is the 40 hits asked for: a reranked answer holds exactly OpenSearch's 40 hits, reordered.
    p = PipelineSettings(
        name=f"test-killed-{uuid.uuid4().hex[:8]}", ranker_url=url, timeout_ms=5000, max_hits=40, ignore_failure=True
    )
    settings = stack.settings.model_copy(update={"pipeline": p})
    procs = [_serve(settings, port, log)]
    install_pipeline(settings)
    try:
        _wait_ready(url, procs[0], log)
        yield settings, url, log, procs
    finally:
        remove_pipeline(settings)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def test_ranker_killed_and_restarted_under_a_stream_of_searches(ranker):
    settings, url, log, procs = ranker
    alias = settings.opensearch.index_alias
    plain = _ids(make_client(settings.opensearch).search(index=alias, body=QUERY))
    assert len(plain) >= 10

    with SearchStream(settings, settings.pipeline.name) as stream:
        stream.wait(_reranked, BEFORE)
        killed = time.monotonic()
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=30)
        stream.wait(lambda a: a.started > killed and not _reranked(a), DURING)
        restarted = time.monotonic()
        procs.append(_serve(settings, int(url.rsplit(":", 1)[1]), log))
        _wait_ready(url, procs[1], log)
        ready = time.monotonic()
        stream.wait(lambda a: a.started > ready, AFTER)
    answers = stream.snapshot()

    answered = [a for a in answers if a.status == 200 and sorted(a.ids) == sorted(plain)]
    errors = [a for a in answers if not (a.status == 200 and sorted(a.ids) == sorted(plain))]
    reranked = [a for a in answered if _reranked(a)]
    fell_back = [a for a in answered if not _reranked(a)]
    reasons = sorted({a.outcome["reason"] for a in fell_back if a.outcome})
    print(
        f"\nranker killed and restarted under {len(answers)} searches: {len(reranked)} reranked, "
        f"{len(fell_back)} fell back ({', '.join(reasons)}), {len(errors)} errors; outage "
        f"{restarted - killed:.1f} s down + {ready - restarted:.1f} s starting"
    )

    assert not errors, [(a.status, len(a.ids)) for a in errors[:5]]  # every search answered with every hit
    for a in reranked:
        assert a.outcome["reason"] is None and a.outcome["reranked"] == len(plain) and a.outcome["model_version"]
    for a in fell_back:  # OpenSearch's own order, flagged with a reason code only
        assert a.ids == plain
        assert a.outcome is not None and a.outcome["personalized"] is False, a.outcome
        assert a.outcome["reason"] in OUTAGE_REASONS, a.outcome
        assert set(a.outcome) == {"personalized", "reason", "user_id", "model_version", "reranked", "took_ms", "window",
                                  "query_id"}  # fmt: skip
        # Only while the service was gone or starting: begun before it was ready, finished after the kill.
        assert killed <= a.ended and a.started <= ready, (a, killed, ready)
    # The kill took effect: nothing begun after it and finished before the restart was reranked.
    assert not [a for a in reranked if a.started > killed and a.ended < restarted]
    assert len([a for a in fell_back if a.started > killed]) >= DURING
    # Reranked again after the restart, every time.
    after = [a for a in answers if a.started > ready]
    assert len(after) >= AFTER and all(_reranked(a) for a in after)
    assert len([a for a in answers if a.ended < killed and _reranked(a)]) >= BEFORE - CLIENTS
