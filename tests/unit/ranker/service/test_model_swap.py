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
