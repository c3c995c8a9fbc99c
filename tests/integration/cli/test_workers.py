"""`recadmin serve --workers 2` as a real process over the real node and the real PostgreSQL store: both workers
answer (distinct pids in ``X-Recsearch-Worker``), both serve a version `recadmin models activate` made active
within the check interval, an event posted to one worker personalizes the next answer of either, and SIGTERM to
the supervisor leaves no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import psycopg
import pytest

from core.settings import OpenSearchSettings, Settings, StoreSettings
from tests.builders.service_stack import HEART_USER, drop_index, free_port, register_model, sample_catalog
from tests.paths import ROOT

CHECK_S = 1.0  # RECSEARCH_SERVICE_MODEL_CHECK_S of the service under test
#: How long a worker may take past the check interval to load and swap in the new version (a loaded 2-core machine).
LOAD_MARGIN_S = 20.0


@pytest.fixture
def pg_settings(tmp_path, opensearch_node, postgres_server):
    """Settings over the real node (an alias of its own) and a schema of its own on the real PostgreSQL."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    settings = Settings(
        opensearch=OpenSearchSettings(url=opensearch_node.url, index_alias=f"test-workers-{uuid.uuid4().hex[:8]}"),
        store=StoreSettings(url=f"{postgres_server}?options=-csearch_path%3D{schema}"),
        state_dir=tmp_path / "state",
    )
    yield settings
    drop_index(settings)
    from core.store import make_engine

    make_engine(settings.store.url).dispose()
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _env(settings: Settings) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RECSEARCH_")}
    return dict(clean, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
                RECSEARCH_OPENSEARCH_URL=settings.opensearch.url,
                RECSEARCH_OPENSEARCH_INDEX_ALIAS=settings.opensearch.index_alias,
                RECSEARCH_STORE_URL=settings.store.url, RECSEARCH_STATE_DIR=str(settings.state_dir),
                RECSEARCH_SERVICE_MODEL_CHECK_S=str(CHECK_S),
                RECSEARCH_SERVICE_PROFILE_DEADLINE_MS="10000")  # fmt: skip


def _recadmin(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from cli.main import run; sys.exit(run(sys.argv[1:]))", *args]


def _fan_out(url: str, path: str, n: int) -> list[httpx.Response]:
    """``n`` GETs of ``path``, four at a time, each on a new connection (a kept-alive one stays with its worker)."""

    def one(_):
        return httpx.get(f"{url}{path}", timeout=60)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


def _worker(r: httpx.Response) -> int:
    return int(r.headers["x-recsearch-worker"])


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...); None for no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _children(pid: int) -> set[int]:
    found = {int(p): _stat(int(p)) for p in os.listdir("/proc") if p.isdigit()}
    return {p for p, fields in found.items() if fields and int(fields[1]) == pid}


def _alive(pid: int) -> bool:
    """Running (an ended process not yet reaped, a zombie, counts as ended)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def test_two_workers_serve_an_activated_version_and_each_others_events(pg_settings, minilm, tmp_path):
    from core.store import open_store
    from indexer import api
    from ranker.feedback.events import EventIn
    from ranker.feedback.profiles import ProfileStore
    from ranker.model import registry
    from ranker.model.item_vectors import ItemVectors

    settings = pg_settings
    catalog = tmp_path / "catalog.parquet"
    hearts, mugs = sample_catalog(catalog)
    api.build_from_catalog(settings, catalog, embedder=minilm)
    vectors = ItemVectors.from_index(settings)
    hearts = [h for h in hearts if h in vectors][:6]
    mugs = [m for m in mugs if m in vectors]
    engine = open_store(settings.store)
    ProfileStore(engine, settings).ingest(
        [EventIn(user_id=HEART_USER, item_id=h, type="purchase", ts=datetime(2011, 11, 1 + n)) for n, h in
         enumerate(hearts)]
    )  # fmt: skip
    register_model(settings, vectors)  # v1, then v2, and v1 active again: the service starts on v1
    first = registry.active_version(engine).version
    register_model(settings, vectors)
    second = registry.active_version(engine).version
    registry.activate_version(engine, first)
    assert first != second

    env = _env(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115  (the service writes to it while it runs)
    server = subprocess.Popen(_recadmin("serve", "--workers", "2", "--port", str(port), "--log-level", "warning"),
                              env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        # Both workers up and warmed, each on the first version: told apart by the pid each answer names.
        ready: dict[int, str] = {}
        deadline = time.monotonic() + 300
        while len(ready) < 2:
            assert time.monotonic() < deadline, f"not two ready workers: {ready}\n{_tail(log)}"
            assert server.poll() is None, _tail(log)
            try:
                answers = _fan_out(url, "/readyz", 8)
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            for r in answers:
                body = r.json()
                if r.status_code == 200 and body["parts"].get("model") == "ready":
                    ready[_worker(r)] = body["model_version"]
            time.sleep(0.3)
        assert set(ready.values()) == {first}
        assert ready.keys() <= _children(server.pid), "the answering processes are the supervisor's workers"

        # `recadmin models activate` (the real command) -> every worker serves the second version.
        done = subprocess.run(_recadmin("models", "activate", second), env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        activated = time.monotonic()
        served: dict[int, list[str]] = {}
        while not all(versions and versions[-1] == second for versions in served.values()) or len(served) < 2:
            assert time.monotonic() - activated < CHECK_S + LOAD_MARGIN_S, f"{served}\n{_tail(log)}"
            for r in _fan_out(url, f"/v1/recommend/{HEART_USER}?k=5", 8):
                assert r.status_code == 200, r.text
                assert r.json()["personalized"] is True
                served.setdefault(_worker(r), []).append(r.json()["model_version"])
        took = time.monotonic() - activated
        for versions in served.values():  # once on the new version, a worker never answers with the old one
            assert versions[versions.index(second) :] == [second] * (len(versions) - versions.index(second))
        print(f"both workers served {second} {took:.1f} s after `models activate` (check every {CHECK_S} s)")

        # An event posted to one worker: the next answer of either is personalized by it.
        shopper = f"u-new-{uuid.uuid4().hex[:6]}"
        cold = _fan_out(url, f"/v1/recommend/{shopper}?k=5", 4)
        assert all(r.json()["personalized"] is False for r in cold)
        posted = httpx.post(f"{url}/v1/events", timeout=60, json={"events": [
            {"event_id": f"{shopper}-1", "user_id": shopper, "item_id": mugs[0], "type": "purchase"}]})  # fmt: skip
        assert posted.status_code == 200, posted.text
        seen: dict[int, dict] = {}
        for _ in range(20):
            for r in _fan_out(url, f"/v1/recommend/{shopper}?k=5", 8):
                seen[_worker(r)] = r.json()
            if len(seen) == 2:
                break
        assert len(seen) == 2 and _worker(posted) in seen
        for body in seen.values():
            assert body["personalized"] is True and body["model_version"] == second, body
            named = {e["item_id"] for result in body["results"] for e in result["explanations"]}
            assert named == {mugs[0]}, body  # the one purchase explains every result
    finally:
        workers = _children(server.pid)
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    assert code == 0, _tail(log)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "a worker outlived its supervisor"
    text = _tail(log)
    assert "Traceback" not in text, text


def _tail(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-4000:]
