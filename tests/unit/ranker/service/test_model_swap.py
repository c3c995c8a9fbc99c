"""A newly activated model version is loaded first and swapped in only once loaded: a truncated checkpoint leaves
the service with the model in use (review L5). Real registry, real checkpoints on a real SQLite store."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi.testclient import TestClient

from core.settings import ServiceSettings, Settings, StoreSettings
from core.store import open_store
from ranker.model import load_active, registry
from ranker.service import ServiceDeps, create_app
from tests.builders.service_stack import register_model
from tests.fakes.service import FakeActivity, FakeIndex, FakeProfiles, FakeRanker, FakeVectors, _Embedder

HITS = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "A1", "score": 0.6}]


class CheckpointDeps(ServiceDeps):
    """The real loader up to the checkpoint (registry, file, torch); a fake scorer named after its version."""

    def _load_ranker(self, vectors=None):
        ranker = FakeRanker()
        ranker.version = load_active(self._store_engine()).version
        return ranker


def test_a_truncated_checkpoint_activated_later_leaves_the_model_in_use(tmp_path):
    settings = Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"), state_dir=tmp_path,
                        service=ServiceSettings(profile_deadline_ms=10_000, allowed_hosts="testserver"))  # fmt: skip
    engine = open_store(settings.store)
    items = SimpleNamespace(dim=4, ids=["A1", "A2", "B1", "B2", "C1"], prices=[1.0, 2.0, 3.0, 4.0, 5.0])
    register_model(settings, items)
    good = registry.active_version(engine).version
    deps = CheckpointDeps(settings, profiles=FakeProfiles({"u1": [("A1", "purchase")]}), index=FakeIndex(),
                          vectors=FakeVectors(), embedder=_Embedder(), activity=FakeActivity())  # fmt: skip
    c = TestClient(create_app(settings, deps=deps))
    assert c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()["model_version"] == good

    register_model(settings, items)  # the next version, then its file cut short (a copy that did not finish)
    broken = registry.active_version(engine)
    assert broken.version != good
    broken.path.write_bytes(broken.path.read_bytes()[:100])
    deps._refresh_model()  # the background check finds the new active version
    assert deps.ranker.state == "ready" and deps.get_ranker().version == good
    body = c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()
    assert (body["personalized"], body["model_version"]) == (True, good)

    register_model(settings, items)  # a good version after it is swapped in
    fixed = registry.active_version(engine).version
    deps._refresh_model()
    assert deps.get_ranker().version == fixed


def test_an_idle_worker_picks_up_an_activated_version_by_itself(tmp_path):
    """With several workers, one that gets no request still serves a newly activated version from its next check
    (``ServiceDeps.watch_model``), so every worker's first request after it gets the new one."""
    import os
    import time

    settings = Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"), state_dir=tmp_path,
                        service=ServiceSettings(allowed_hosts="testserver", model_check_s=0.1))  # fmt: skip
    engine = open_store(settings.store)
    items = SimpleNamespace(dim=4, ids=["A1", "A2", "B1", "B2", "C1"], prices=[1.0, 2.0, 3.0, 4.0, 5.0])
    register_model(settings, items)
    deps = CheckpointDeps(settings, profiles=FakeProfiles({"u1": [("A1", "purchase")]}), index=FakeIndex(),
                          vectors=FakeVectors(), embedder=_Embedder(), activity=FakeActivity())  # fmt: skip
    first = deps.ranker.get().version
    c = TestClient(create_app(settings, deps=deps))
    answer = c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS})
    assert answer.headers["x-recsearch-worker"] == str(os.getpid())  # which worker answered
    watch = deps.watch_model()
    try:
        register_model(settings, items)
        second = registry.active_version(engine).version
        deadline = time.monotonic() + 30  # a bound for a loaded machine, not a speed goal: 0.1 s checks
        while deps.ranker.get().version != second and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (first, deps.ranker.get().version) == (first, second) and first != second
    finally:
        deps.close()
    watch.join(timeout=10)
    assert not watch.is_alive()  # close() ends the watch
