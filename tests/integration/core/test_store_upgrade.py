"""The store's migrations on the real databases: every test runs on SQLite and on PostgreSQL.

A shop that upgrades from the last release before migrations (recsearch 0.1.0) keeps its events, profiles, import
runs, model registry and enrichment cache: the old store is built from that release's own DDL and rows (see
:mod:`tests.builders.store_release` for why they are frozen rather than re-made by today's code)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect

from core.errors import ConfigError
from core.settings import EventsSettings, Settings, StoreSettings
from core.store import make_engine, open_store, schema_status
from indexer.enrichment.cache import CachedEnrichment, EnrichmentCache
from ranker.feedback.events import EventIn
from ranker.feedback.frames import events_frame
from ranker.feedback.importer import import_events
from ranker.feedback.profiles import ProfileStore
from ranker.model import registry
from tests.builders.store_release import (  # noqa: F401  (future_release: a fixture)
    HEAD,
    NEXT,
    REVISIONS,
    TABLES,
    drift,
    future_release,
    make_release_store,
    ship_revision,
    stamp_release_store,
)
from tests.paths import ROOT


def _settings(url: str, tmp_path: Path) -> Settings:
    return Settings(store=StoreSettings(url=url), state_dir=tmp_path / "state", events=EventsSettings())


def test_an_empty_store_is_created_at_head_exactly_as_the_models_declare(store_url):
    engine = open_store(StoreSettings(url=store_url))
    assert set(TABLES) <= set(inspect(engine).get_table_names())
    assert schema_status(engine).state == "current"
    assert drift(engine) == []


def test_a_store_of_the_release_before_migrations_keeps_every_row(store_url, tmp_path):
    make_release_store(make_engine(store_url))
    assert schema_status(make_engine(store_url)).state == "unversioned"
    s = _settings(store_url, tmp_path)
    engine = open_store(s.store)
    assert schema_status(engine).state == "current" and drift(engine) == []

    profiles = ProfileStore(engine, s)
    assert [(h.item_id, h.type) for h in profiles.history("u1")] == [("B", "purchase"), ("A", "view")]
    assert profiles.event_count("u2") == 1 and not profiles.history("u2")  # flagged out of the catalog: kept
    frame = events_frame(engine)
    assert sorted(frame["item_id"]) == ["A", "A", "B"] and frame["in_catalog"].tolist().count(False) == 1
    versions = registry.list_versions(engine)
    assert [(v.version, v.active, v.metrics) for v in versions] == [
        ("v1", False, {"val_ndcg@10": 0.3}), ("v2", True, {"val_ndcg@10": 0.4})
    ]  # fmt: skip
    assert versions[1].info == {"seconds": 9} and versions[1].created_at.isoformat() == "2024-05-01T08:30:00+00:00"
    cached = EnrichmentCache(engine, "smollm2", "enrich-v1").get_many(["h1", "h2", "h3"])
    assert cached == {
        "h1": CachedEnrichment(True, "A red mug.", {"color": "red"}, "", 0.8),
        "h2": CachedEnrichment(False, "", {}, "not grounded", 0.1),
    }
    # and it keeps working: a new import run (its id continues the old sequence), a new version, live events
    path = tmp_path / "more.csv"
    path.write_text("user_id,item_id,type,ts\nu3,C,purchase,2011-02-01T00:00:00\n")
    assert import_events(engine, s, path).events_added == 1
    with engine.connect() as conn:
        runs = conn.exec_driver_sql("SELECT id, status FROM event_imports ORDER BY id").all()
    assert runs == [(1, "done"), (2, "done")]
    assert registry.next_version(engine) == "v3"
    assert profiles.ingest([EventIn(user_id="u1", item_id="C", type="view", ts=datetime(2011, 3, 1))]).added == 1


def test_a_partial_store_of_the_release_gets_the_missing_tables(store_url):
    """That release created a table when a command first needed it: a shop that only enriched has one table."""
    make_release_store(make_engine(store_url), tables=("enrichment_cache",))
    engine = open_store(StoreSettings(url=store_url))
    assert set(TABLES) <= set(inspect(engine).get_table_names()) and drift(engine) == []
    assert set(EnrichmentCache(engine, "smollm2", "enrich-v1").get_many(["h1", "h2"])) == {"h1", "h2"}


def test_a_store_behind_head_is_upgraded_in_place(store_url, future_release):
    engine = make_engine(store_url)
    make_release_store(engine)
    stamp_release_store(engine)
    assert open_store(StoreSettings(url=store_url)) is engine
    assert schema_status(engine).current == future_release
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT event_id, session_id, channel FROM events ORDER BY event_id").all()
    assert rows == [("e0", None, None), ("e1", None, None), ("e2", "s9", None)]
    assert {i["name"] for i in inspect(engine).get_indexes("events")} == {
        "ix_events_user_ts", "ix_events_item", "ix_events_query_id", "ix_events_ts"
    }  # fmt: skip


BROKEN = f"""
import sqlalchemy as sa
from alembic import op

revision, down_revision, branch_labels, depends_on = "{NEXT}", "{HEAD}", None, None


def upgrade():
    op.create_table("channels", sa.Column("id", sa.Integer, primary_key=True))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("channel", sa.String(16)))
    op.execute("UPDATE no_such_table SET x = 1")


def downgrade():
    pass
"""


def test_a_failed_migration_leaves_the_store_as_it_was(store_url, tmp_path, monkeypatch):
    engine = make_engine(store_url)
    make_release_store(engine)
    stamp_release_store(engine)
    ship_revision(tmp_path, monkeypatch, BROKEN)
    with pytest.raises(ConfigError, match="cannot upgrade the store at .*no_such_table"):
        open_store(StoreSettings(url=store_url))
    assert schema_status(engine).current == "0001"
    assert "channels" not in inspect(engine).get_table_names()
    assert "channel" not in {c["name"] for c in inspect(engine).get_columns("events")}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one() == 3


UPGRADER = """
import sys, time
from pathlib import Path
from core.store import make_engine, upgrade

engine = make_engine(sys.argv[1])
go = Path(sys.argv[2])
while not go.exists():  # start together: the upgrades overlap
    time.sleep(0.01)
print("APPLIED=" + ",".join(upgrade(engine)))
"""


def test_concurrent_upgrades_apply_each_migration_once(store_url, tmp_path):
    go = tmp_path / "go"
    runs = [subprocess.Popen([sys.executable, "-c", UPGRADER, store_url, str(go)], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]  # fmt: skip
    time.sleep(3)  # let every process import
    go.touch()
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in outputs]
    applied = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert applied == ["APPLIED=", "APPLIED=", "APPLIED=" + ",".join(REVISIONS)]
    engine = make_engine(store_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [HEAD]
    assert drift(engine) == []
