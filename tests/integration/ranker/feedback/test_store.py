"""Event storage, imports and profiles on the real databases: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.settings import EventsSettings, Settings, StoreSettings
from core.store import open_store
from ranker.feedback.catalog_sync import SetCatalog, sync_catalog
from ranker.feedback.events import EventIn
from ranker.feedback.frames import events_frame
from ranker.feedback.importer import import_events
from ranker.feedback.mapping import EventMapping
from ranker.feedback.profiles import ProfileStore
from ranker.feedback.tables import EventImport, EventRow, ProfileEntry
from tests.paths import ROOT

T0 = datetime(2011, 1, 1, 12, 0, 0)


def _settings(url: str, tmp_path: Path, **events) -> Settings:
    return Settings(
        store=StoreSettings(url=url),
        state_dir=tmp_path / "state",
        events=EventsSettings(**{"history_length": 5, "batch_size": 4, **events}),
    )


def _engine(url: str):
    return open_store(StoreSettings(url=url))


def _count(engine, table, **where) -> int:
    query = select(func.count()).select_from(table.__table__)
    for column, value in where.items():
        query = query.where(table.__table__.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _csv(path: Path, rows: list[tuple]) -> Path:
    lines = ["user_id,item_id,type,ts,quantity"] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _events(n_users: int = 3, per_user: int = 8) -> list[tuple]:
    return [
        (f"u{u}", f"I{(u + k) % 6}", "view" if k % 2 else "purchase", (T0 + timedelta(hours=k)).isoformat(), 1)
        for u in range(n_users)
        for k in range(per_user)
    ]


def test_import_twice_adds_nothing_and_rejects_name_line_and_reason(store_url, tmp_path):
    s = _settings(store_url, tmp_path)
    engine = _engine(store_url)
    rows = _events() + [("", "I1", "view", T0.isoformat(), 1), ("u1", "I1", "view", "not a time", 1)]
    path = _csv(tmp_path / "events.csv", rows)
    first = import_events(engine, s, path)
    assert (first.rows_read, first.events_added, first.rejected) == (26, 24, 2)
    assert first.batches == 7  # batches of 4 source rows, each committed on its own
    rejects = [json.loads(line) for line in first.rejects_file.read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(26, "user_id"), (27, "ts")]
    assert rejects[1]["path"] == str(path) and "unreadable time" in rejects[1]["reason"]
    again = import_events(engine, s, path)
    assert (again.events_added, again.already_stored) == (0, 24)
    assert _count(engine, EventRow) == 24
    with engine.connect() as conn:
        runs = conn.execute(select(EventImport.__table__.c.status)).scalars().all()
    assert runs == ["done", "done"]


def test_profile_keeps_newest_n_with_type_weights_and_decay(store_url, tmp_path):
    s = _settings(store_url, tmp_path, decay_half_life_days=1.0)
    engine = _engine(store_url)
    import_events(engine, s, _csv(tmp_path / "e.csv", _events(n_users=1, per_user=12)))
    assert _count(engine, ProfileEntry, user_id="u0") == 5  # trimmed to N while importing
    store = ProfileStore(engine, s)
    history = store.history("u0")
    assert [h.ts for h in history] == [T0 + timedelta(hours=k) for k in range(11, 6, -1)]
    newest = history[0]
    assert newest.type == "view" and newest.weight == pytest.approx(1.0)
    assert history[1].type == "purchase"
    assert history[1].weight == pytest.approx(8.0 * 0.5 ** (1 / 24))  # one hour older, half-life one day
    assert store.history("u0", limit=2) == history[:2]
    assert store.history("nobody") == [] and not store.known("nobody") and store.known("u0")


def test_ingest_updates_the_profile_before_returning_and_is_idempotent(store_url, tmp_path):
    s = _settings(store_url, tmp_path)
    engine = _engine(store_url)
    store = ProfileStore(engine, s, catalog=SetCatalog({"A", "B"}))
    events = [
        EventIn(user_id="u1", item_id="A", type="view", ts=T0),
        EventIn(user_id="u1", item_id="B", type="add_to_cart", ts=T0 + timedelta(minutes=1)),
        EventIn(user_id="u1", item_id="GONE", type="click", ts=T0 + timedelta(minutes=2)),
        EventIn(user_id="u1", type="search", query="mug", ts=T0 + timedelta(minutes=3)),
    ]
    result = store.ingest(events)
    assert (result.received, result.added, result.duplicates, result.not_in_catalog) == (4, 4, 0, ["GONE"])
    assert [h.item_id for h in store.history("u1")] == ["B", "A"]  # flagged item and the search stay out
    assert store.ingest(events[:2]).added == 0
    assert _count(engine, EventRow, user_id="u1") == 4
    assert _count(engine, EventRow, in_catalog=False) == 1


def test_items_leaving_the_catalog_drop_out_of_profiles(store_url, tmp_path):
    s = _settings(store_url, tmp_path, history_length=3)
    engine = _engine(store_url)
    rows = [("u1", item, "view", (T0 + timedelta(hours=k)).isoformat(), 1) for k, item in enumerate("ABCDE")]
    result = import_events(engine, s, _csv(tmp_path / "e.csv", rows), catalog=SetCatalog("ABCDE"))
    assert result.not_in_catalog == 0
    store = ProfileStore(engine, s)
    assert [h.item_id for h in store.history("u1")] == ["E", "D", "C"]
    changed = sync_catalog(engine, SetCatalog("ABC"), history_length=3)
    assert (changed.items_left, changed.events_flagged, changed.profiles_rebuilt) == (2, 2, 1)
    assert [h.item_id for h in store.history("u1")] == ["C", "B", "A"]  # refilled from older events
    back = sync_catalog(engine, SetCatalog("ABCDE"), history_length=3)
    assert back.items_back == 2
    assert [h.item_id for h in store.history("u1")] == ["E", "D", "C"]
    frame = events_frame(engine)
    assert frame["in_catalog"].all() and len(frame) == 5


def test_a_sync_is_skipped_while_the_catalog_is_unchanged_and_runs_after_any_unchecked_write(store_url, tmp_path):
    s = _settings(store_url, tmp_path, history_length=3)
    engine = _engine(store_url)
    rows = [("u1", item, "view", (T0 + timedelta(hours=k)).isoformat(), 1) for k, item in enumerate("ABCDE")]
    first = import_events(engine, s, _csv(tmp_path / "e.csv", rows), catalog=SetCatalog("ABCDE", "v1/1"))
    assert not first.catalog_sync.skipped
    # Same state: nothing is read, even though this catalog's ids differ (a state is the catalog's promise).
    assert sync_catalog(engine, SetCatalog("ABC", "v1/1"), history_length=3).skipped
    assert _count(engine, EventRow, in_catalog=False) == 0
    # A new state syncs; forcing syncs too.
    changed = sync_catalog(engine, SetCatalog("ABC", "v1/2"), history_length=3)
    assert (changed.skipped, changed.items_left, changed.events_flagged) == (False, 2, 2)
    assert not sync_catalog(engine, SetCatalog("ABC", "v1/2"), history_length=3, force=True).skipped
    # An import without a check stores its events as in the catalog and clears the state: the next sync runs.
    more = [("u2", "E", "view", T0.isoformat(), 1)]
    import_events(engine, s, _csv(tmp_path / "more.csv", more))
    assert _count(engine, EventRow, user_id="u2", in_catalog=True) == 1
    again = sync_catalog(engine, SetCatalog("ABC", "v1/2"), history_length=3)
    assert (again.skipped, again.events_flagged) == (False, 1)
    assert sync_catalog(engine, SetCatalog("ABC", "v1/2"), history_length=3).skipped
    # A live event flagged against the service's own view of the catalog clears it as well.
    ProfileStore(engine, s, catalog=SetCatalog("AB")).ingest([EventIn(user_id="u3", item_id="C", type="view")])
    assert not sync_catalog(engine, SetCatalog("ABC", "v1/2"), history_length=3).skipped
    assert _count(engine, EventRow, user_id="u3", in_catalog=True) == 1  # C is in the catalog: unflagged


def test_delete_and_export_user(store_url, tmp_path):
    s = _settings(store_url, tmp_path)
    engine = _engine(store_url)
    import_events(engine, s, _csv(tmp_path / "e.csv", _events(n_users=2)))
    store = ProfileStore(engine, s)
    exported = store.export_user("u1")
    assert len(exported["events"]) == 8 and len(exported["profile"]) == 5
    assert json.loads(json.dumps(exported))["events"][0]["ts"] == T0.isoformat()
    assert store.delete_user("u1") == {"events": 8, "profile_entries": 5}
    assert _count(engine, EventRow, user_id="u1") == 0 and _count(engine, ProfileEntry, user_id="u1") == 0
    assert store.history("u1") == [] and store.export_user("u1")["events"] == []
    assert _count(engine, EventRow, user_id="u0") == 8  # the other user is untouched


def test_events_frame_contract(store_url, tmp_path):
    s = _settings(store_url, tmp_path)
    engine = _engine(store_url)
    store = ProfileStore(engine, s)
    store.ingest(
        [
            EventIn(user_id="b", item_id="X", type="purchase", ts=T0, quantity=2, value=5.5),
            EventIn(user_id="a", item_id="Y", type="view", ts=T0 + timedelta(days=2)),
            EventIn(user_id="a", item_id="X", type="view", ts=T0),
            EventIn(user_id="a", type="search", query="q", ts=T0),
        ]
    )
    frame = events_frame(engine)
    assert list(frame.columns) == ["user_id", "item_id", "type", "ts", "quantity", "value", "in_catalog"]
    assert frame[["user_id", "item_id"]].values.tolist() == [["a", "X"], ["a", "Y"], ["b", "X"]]
    assert str(frame["ts"].dtype) == "datetime64[ns]" and frame["in_catalog"].dtype == bool
    assert frame["quantity"].isna().tolist() == [True, True, False] and frame["value"].iloc[2] == 5.5
    assert len(events_frame(engine, until=T0 + timedelta(days=1))) == 2


def test_jsonl_and_parquet_with_a_mapping(store_url, tmp_path):
    s = _settings(store_url, tmp_path)
    engine = _engine(store_url)
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text(
        '{"who": "u1", "what": {"sku": "A"}, "when": "2011-01-01T10:00:00Z", "kind": "click"}\n'
        "{broken\n"
        '{"who": "u1", "what": {"sku": "B"}, "when": "2011-01-01T11:00:00Z", "kind": "click"}\n'
    )
    mapping = EventMapping.parse("user_id=who,item_id=what.sku,ts=when,type=kind")
    result = import_events(engine, s, jsonl, mapping=mapping)
    assert (result.events_added, result.rejected) == (2, 1)
    assert result.first_rejects[0].line == 2 and "not valid JSON" in result.first_rejects[0].reason
    parquet = tmp_path / "e.parquet"
    pd.DataFrame(
        {"who": ["u2", "u2"], "sku": ["A", "C"], "when": pd.to_datetime(["2011-01-01", "2011-01-02"])}
    ).to_parquet(parquet)
    result = import_events(
        engine, s, parquet, mapping=EventMapping.parse("user_id=who,item_id=sku,ts=when,type='purchase'")
    )
    assert result.events_added == 2
    assert [h.item_id for h in ProfileStore(engine, s).history("u2")] == ["C", "A"]


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from sqlalchemy import event
    from core.settings import EventsSettings, Settings, StoreSettings
    from core.store import open_store
    from ranker.feedback.importer import import_events

    url, path, state, when = sys.argv[1:5]
    settings = Settings(store=StoreSettings(url=url), state_dir=Path(state),
                        events=EventsSettings(history_length=5, batch_size=10))
    engine = open_store(settings.store)
    armed = False

    def commit(conn):
        # "before": dies inside the 4th batch's transaction, just before its COMMIT reaches the database.
        if armed:
            os.kill(os.getpid(), signal.SIGKILL)

    def progress(done, total):
        global armed
        armed = done >= 30 and when == "before"
        if done >= 40 and when == "after":  # "after": dies right after the 4th batch committed
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(engine, "commit", commit)
    import_events(engine, settings, Path(path), progress=progress)
    """
)


@pytest.mark.parametrize("when", ["before", "after"])
def test_import_killed_half_way_loses_nothing_and_rerun_completes(store_url, tmp_path, when):
    path = _csv(tmp_path / "e.csv", _events(n_users=5, per_user=20))
    s = _settings(store_url, tmp_path, batch_size=10)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", KILLER, store_url, str(path), str(tmp_path / "state"), when],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    engine = _engine(store_url)
    kept = _count(engine, EventRow)
    assert kept == (30 if when == "before" else 40)  # whole committed batches, nothing half-written
    rerun = import_events(engine, s, path)
    assert rerun.resumed and (rerun.events_added, rerun.already_stored) == (100 - kept, kept)
    assert _count(engine, EventRow) == 100
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    import_events(_engine(clean_url), s, path)
    for user in ("u0", "u4"):
        assert ProfileStore(engine, s).history(user) == ProfileStore(_engine(clean_url), s).history(user)


def test_failed_import_is_marked_failed_not_resumable(store_url, tmp_path):
    s = _settings(store_url, tmp_path)
    engine = _engine(store_url)
    path = tmp_path / "e.csv"
    path.write_text("customer,sku,when\n1,A,2011-01-01\n")
    from core.errors import InputError

    with pytest.raises(InputError, match="column 'user_id' for user_id not found"):
        import_events(engine, s, path)
    good = import_events(
        engine, s, path, mapping=EventMapping.parse("user_id=customer,item_id=sku,ts=when,type='view'")
    )
    assert not good.resumed and good.events_added == 1
    with engine.connect() as conn:
        runs = conn.execute(select(EventImport.__table__.c.status).order_by(EventImport.__table__.c.id)).scalars().all()
    assert runs == ["failed", "done"]


def _event_indexes(engine) -> set[str]:
    from sqlalchemy import inspect

    return {i["name"] for i in inspect(engine).get_indexes("events")}


def test_first_import_builds_the_user_and_item_indexes_at_the_end(store_url, tmp_path):
    from ranker.feedback.tables import BULK_LOAD_INDEXES

    s = _settings(store_url, tmp_path, batch_size=700)
    engine = _engine(store_url)
    rows = _events(n_users=3, per_user=400)  # batches over the 500 rows of one staging statement
    import_events(engine, s, _csv(tmp_path / "e.csv", rows))
    assert set(BULK_LOAD_INDEXES) <= _event_indexes(engine)
    assert _count(engine, EventRow) == 1200 and _count(engine, ProfileEntry) == 15
    expected = sorted((r for r in rows if r[0] == "u1"), key=lambda r: r[3], reverse=True)[:5]
    assert [(h.item_id, h.type) for h in ProfileStore(engine, s).history("u1")] == [(r[1], r[2]) for r in expected]
    # a first import killed before its end leaves them missing: the next store or import builds them
    with engine.begin() as conn:
        for name in BULK_LOAD_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    ProfileStore(engine, s)
    assert set(BULK_LOAD_INDEXES) <= _event_indexes(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {BULK_LOAD_INDEXES[0]}")
    again = import_events(engine, s, tmp_path / "e.csv")
    assert (again.events_added, again.already_stored) == (0, 1200)
    assert set(BULK_LOAD_INDEXES) <= _event_indexes(engine)


def test_first_import_that_fails_still_builds_the_indexes(store_url, tmp_path):
    from ranker.feedback.tables import BULK_LOAD_INDEXES

    s = _settings(store_url, tmp_path)
    engine = _engine(store_url)
    path = tmp_path / "e.csv"
    path.write_text("customer,sku,when\n1,A,2011-01-01\n")
    from core.errors import InputError

    with pytest.raises(InputError):
        import_events(engine, s, path)
    assert set(BULK_LOAD_INDEXES) <= _event_indexes(engine)


def test_a_longer_profile_setting_is_filled_by_rebuilding_the_profiles(store_url, tmp_path):
    from ranker.feedback.api import rebuild_profiles

    short = _settings(store_url, tmp_path, history_length=3)
    engine = _engine(store_url)
    import_events(engine, short, _csv(tmp_path / "e.csv", _events(n_users=3, per_user=8)))
    assert {len(ProfileStore(engine, short).history(f"u{u}")) for u in range(3)} == {3}
    longer = _settings(store_url, tmp_path, history_length=6)
    assert len(ProfileStore(engine, longer).history("u0")) == 3  # kept incrementally: not longer by itself
    done: list[tuple[int, int]] = []
    assert rebuild_profiles(longer, progress=lambda n, total: done.append((n, total)), batch=2) == 3
    assert done == [(2, 3), (3, 3)]
    history = ProfileStore(engine, longer).history("u0")
    assert len(history) == 6 and history == sorted(history, key=lambda h: h.ts, reverse=True)
    assert _count(engine, ProfileEntry) == 18


def test_purchases_older_than_the_profile_are_still_known(store_url, tmp_path):
    s = _settings(store_url, tmp_path, history_length=2)
    engine = _engine(store_url)
    rows = [
        ("u1", item, type_, (T0 + timedelta(hours=k)).isoformat(), 1)
        for k, (item, type_) in enumerate([("A", "purchase"), ("B", "view"), ("C", "purchase"), ("D", "view")])
    ]
    import_events(engine, s, _csv(tmp_path / "e.csv", rows))
    store = ProfileStore(engine, s)
    assert [h.item_id for h in store.history("u1")] == ["D", "C"]
    assert store.purchased("u1") == {"A", "C"} and store.purchased("nobody") == set()


def _live_app(url: str, tmp_path: Path, catalog: list[str]):
    """The service app with the real profile store on ``url``; the catalog is the loaded item vectors."""
    import numpy as np
    from fastapi.testclient import TestClient

    from ranker.model import ItemVectors
    from ranker.service.app import create_app
    from ranker.service.deps import ServiceDeps

    s = _settings(url, tmp_path)
    s = s.model_copy(update={"service": s.service.model_copy(update={"allowed_hosts": "testserver"})})  # TestClient
    vectors = ItemVectors.from_arrays(catalog, np.eye(len(catalog), dtype=np.float32))
    return TestClient(create_app(s, deps=ServiceDeps(s, vectors=vectors)), raise_server_exceptions=False)


def test_live_events_a_retry_stores_nothing_twice_and_unknown_items_stay_out_of_profiles(store_url, tmp_path):
    """M8: a retried POST /v1/events is stored once; an item outside the catalog (the service's item vectors) is
    stored, flagged and left out of the profile, as for an import."""
    c = _live_app(store_url, tmp_path, ["A", "B"])
    purchase = {"user_id": "dup", "item_id": "A", "type": "purchase", "ts": "2011-12-01T10:00:00"}
    for _ in range(2):
        assert c.post("/v1/events", json={"events": [purchase]}).status_code == 200
    no_time = {"user_id": "dup", "item_id": "B", "type": "purchase"}
    r = c.post("/v1/events", json={"events": [no_time]})
    assert r.status_code == 422 and "events[0].ts" in r.json()["error"]
    by_id = {**no_time, "event_id": "order-7-line-1"}
    assert [c.post("/v1/events", json={"events": [by_id]}).json()["detail"]["added"] for _ in range(2)] == [1, 0]
    unknown = {"user_id": "dup", "item_id": "GONE", "type": "purchase", "ts": "2011-12-02T10:00:00"}
    r = c.post("/v1/events", json={"events": [unknown]})
    assert r.status_code == 200 and r.json()["detail"]["not_in_catalog"] == ["GONE"]
    exported = c.get("/v1/users/dup/export").json()
    assert sorted((e["item_id"], e["in_catalog"]) for e in exported["events"]) == [
        ("A", True), ("B", True), ("GONE", False),
    ]  # fmt: skip
    assert sorted(p["item_id"] for p in exported["profile"]) == ["A", "B"]


def test_nul_characters_and_overlong_csv_lines_are_rejected_rows_and_the_import_goes_on(store_url, tmp_path):
    s = _settings(store_url, tmp_path)
    engine = _engine(store_url)
    path = tmp_path / "e.csv"
    path.write_text(
        "user_id,item_id,type,ts\n"
        "u1,A,view,2011-01-01\n"
        "u1,B,view,2011-01-02,extra\n"  # 3: one field too many
        "u\x001,C,view,2011-01-03\n"  # 4: PostgreSQL refuses NUL in text
        "u1,D,view,2011-01-04\n"
        "u1,E,view,0999-06-01\n"  # 6: outside the time window
    )
    result = import_events(engine, s, path)
    assert (result.rows_read, result.events_added, result.rejected) == (5, 2, 3)
    rejects = [json.loads(line) for line in result.rejects_file.read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(3, "*"), (4, "user_id"), (6, "ts")]
    assert rejects[0]["reason"] == "5 fields where the header has 4"
    assert [h.item_id for h in ProfileStore(engine, s).history("u1")] == ["D", "A"]


def test_a_stored_time_that_is_no_time_is_left_out_of_reads_not_an_error(tmp_path):
    """H3: an older release wrote ``999-06-01 ...`` (unpadded) on SQLite; reading such a user's profile or export
    must not fail (PostgreSQL stores timestamps, never such text)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    s = _settings(url, tmp_path)
    engine = _engine(url)
    store = ProfileStore(engine, s)
    store.ingest([EventIn(user_id="p2", item_id="A", type="view", ts=T0)])
    bad = "999-06-01 00:00:00.000000"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO events (event_id, user_id, item_id, type, ts, in_catalog, seq) "
            f"VALUES ('old', 'p2', 'B', 'purchase', '{bad}', 1, 0)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO profile_entries (user_id, event_id, item_id, type, ts, seq) VALUES ('p2', 'old', 'B', "
            f"'purchase', '{bad}', 0)"
        )
    assert [(h.item_id, h.ts) for h in store.history("p2")] == [("A", T0)]
    exported = store.export_user("p2")
    assert sorted(e["ts"] for e in exported["events"]) == [T0.isoformat(), bad]
    assert [p["item_id"] for p in exported["profile"]] == ["A"]


def test_an_import_keeps_its_bulk_sqlite_settings_off_the_pooled_connections(tmp_path):
    """L4: the import's 64 MB page cache and long WAL checkpoint stay on its own connection; every pooled
    connection (what the service writes with) syncs every commit (synchronous=FULL)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    s = _settings(url, tmp_path)
    engine = _engine(url)
    import_events(engine, s, _csv(tmp_path / "e.csv", _events()))
    ProfileStore(engine, s).ingest([EventIn(user_id="x", item_id="A", type="view", ts=T0)])
    conns = [engine.connect() for _ in range(3)]  # the pool's connections, the ones the batches used among them
    try:
        for conn in conns:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() != -65536
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() != 20000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        for conn in conns:
            conn.close()


def test_the_events_frame_leaves_out_stored_times_it_cannot_hold(store_url, tmp_path):
    """H3: events an older release let in (year 2300: outside pandas' nanoseconds; on SQLite also the unpadded
    ``999-06-01``) no longer break training and popularity, which read this frame."""
    engine = _engine(store_url)
    ProfileStore(engine, _settings(store_url, tmp_path)).ingest(
        [EventIn(user_id="p3", item_id="A", type="view", ts=T0)]
    )
    bad = ["2300-01-01 00:00:00.000000"] + (["999-06-01 00:00:00.000000"] if store_url.startswith("sqlite") else [])
    with engine.begin() as conn:
        for n, ts in enumerate(bad):
            conn.execute(
                EventRow.__table__.insert().values(
                    event_id=f"old{n}", user_id="p3", item_id="B", type="purchase", ts=datetime(2011, 1, 1), seq=0
                )
            )
            conn.exec_driver_sql(f"UPDATE events SET ts = '{ts}' WHERE event_id = 'old{n}'")
    frame = events_frame(engine)
    assert frame[["user_id", "item_id"]].values.tolist() == [["p3", "A"]] and frame["ts"].tolist() == [T0]
