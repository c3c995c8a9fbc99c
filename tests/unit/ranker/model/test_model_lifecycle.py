"""The model lifecycle's races and fragile files: one active row at most, trainings finishing at once, and a
checkpoint damaged after registration (real SQLite and PostgreSQL stores, real training on a tiny shop)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.errors import ModelError
from core.settings import RankerSettings, Settings, StoreSettings
from core.store import open_store
from ranker.model import registry
from ranker.model.checkpoint import load_checkpoint
from ranker.training import api as training_api
from ranker.training.api import train_and_register
from ranker.training.options import TrainOptions
from tests.builders.shop import clustered_shop

TINY = dict(attention_dim=8, hidden_dim=8, batch_size=32, negatives=4, in_batch_negatives=8, validation_examples=50,
            validation_fraction=0.2, epochs=1, device="cpu")  # fmt: skip


def test_the_store_holds_at_most_one_active_version(store_url, tmp_path):
    engine = open_store(StoreSettings(url=store_url))

    def row(n: int, active: bool) -> registry.RankerModelRow:
        return registry.RankerModelRow(version=f"v{n}", number=n, created_at=datetime.now(UTC), path=str(tmp_path),
                                       active=active)  # fmt: skip

    with Session(engine) as session:
        session.add_all([row(1, True), row(2, False), row(3, False)])
        session.commit()
    with pytest.raises(IntegrityError), Session(engine) as session:  # what a racing activation would leave
        session.add(row(4, True))
        session.commit()
    (tmp_path / "ck").write_bytes(b"weights")
    registry.register(engine, "v5", tmp_path / "ck", {})
    registry.activate_version(engine, "v5")
    assert [v.version for v in registry.list_versions(engine) if v.active] == ["v5"]


@pytest.fixture
def engine(tmp_path):
    return open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))


def test_activating_a_damaged_checkpoint_is_refused_and_changes_nothing(engine, tmp_path):
    good, bad = tmp_path / "ranker-v1.pt", tmp_path / "ranker-v2.pt"
    good.write_bytes(b"weights one")
    bad.write_bytes(b"weights two" * 100)
    registry.register(engine, "v1", good, {}, activate=True)
    registry.register(engine, "v2", bad, {})
    bad.write_bytes(bad.read_bytes()[:100])  # truncated after registration (disk full, a half copy)
    with pytest.raises(ModelError, match=r"ranker version v2: checkpoint .*ranker-v2.pt is not the file registered"):
        registry.activate_version(engine, "v2")
    assert [(v.version, v.active) for v in registry.list_versions(engine)] == [("v1", True), ("v2", False)]


def test_a_version_registered_without_a_checksum_is_loaded_before_it_is_activated(engine, tmp_path):
    good = tmp_path / "ranker-v1.pt"
    good.write_bytes(b"weights")
    registry.register(engine, "v1", good, {}, activate=True)
    registry.register(engine, "v2", tmp_path / "ranker-v2.pt", {})  # file written after: no checksum recorded
    (tmp_path / "ranker-v2.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match=r"cannot read ranker checkpoint .*ranker-v2.pt"):
        registry.activate_version(engine, "v2")
    assert registry.active_version(engine).version == "v1"


def test_trainings_finishing_at_once_keep_their_own_version_and_checkpoint(tmp_path, monkeypatch):
    settings = Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"), state_dir=tmp_path / "state")
    events, items = clustered_shop(users=24, per_cluster=6, baskets=5)

    def train(seed: int):
        options = TrainOptions.from_settings(RankerSettings(), seed=seed, **TINY)
        return train_and_register(settings, events=events, items=items, options=options, activate=False)

    # The race: the other training registers between this one drawing its version and writing its checkpoint.
    others = []
    name = "write_checkpoint" if hasattr(training_api, "write_checkpoint") else "save_checkpoint"
    write = getattr(training_api, name)

    def write_after_the_other_one(*args, **kwargs):
        if not others:
            others.append(None)  # the other training's own write goes straight through
            others[0] = train(seed=2)
        return write(*args, **kwargs)

    monkeypatch.setattr(training_api, name, write_after_the_other_one)
    mine = train(seed=1)
    other = others[0]
    assert (other.registered.version, mine.registered.version) == ("v1", "v2")
    for run in (other, mine):
        loaded = load_checkpoint(run.registered.path)  # each file holds its own run's model
        assert loaded.version == run.registered.version and loaded.metrics == run.registered.metrics
    assert mine.registered.path != other.registered.path
    assert sorted(p.name for p in (settings.state_dir / "models").iterdir()) == ["ranker-v1.pt", "ranker-v2.pt"]


def test_a_store_with_two_active_versions_keeps_the_newest_when_upgraded(store_url):
    from core.store import make_engine
    from tests.builders.store_release import make_release_store

    old = make_engine(store_url)
    make_release_store(old)  # v1 inactive, v2 active; a racing activation of that release then left v1 active too
    with old.begin() as conn:
        conn.exec_driver_sql("UPDATE ranker_model_versions SET active = true WHERE version = 'v1'")
    engine = open_store(StoreSettings(url=store_url))
    assert [(v.version, v.active) for v in registry.list_versions(engine)] == [("v1", False), ("v2", True)]
