"""Popularity and active users by SQL aggregates on SQLite and PostgreSQL (review M5): the events never come into
the service; a store that fails keeps the last good answer, or gives the degraded answers, never a 500."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import event

from core.settings import ServiceSettings, Settings, StoreSettings
from core.store import open_store
from ranker.feedback import EventIn, ProfileStore
from ranker.service import ServiceDeps, create_app
from ranker.service.activity import EventsActivity, Window, active_users, popular_items
from tests.fakes.service import FakeIndex, FakeProfiles, FakeRanker, FakeVectors, _Embedder

#: (user, item, type): B1 has three buyers, A1 two (one of them buying it twice), C1 one; views do not count.
EVENTS = [("u1", "B1", "purchase"), ("u2", "B1", "purchase"), ("u3", "B1", "purchase"), ("u1", "A1", "purchase"),
          ("u1", "A1", "purchase"), ("u2", "A1", "purchase"), ("u3", "C1", "purchase"), ("u4", "C1", "view"),
          ("u5", "C1", "view"), ("u6", "C1", "view"), ("u4", "A2", "view")]  # fmt: skip


def _store(url: str) -> tuple:
    settings = Settings(
        store=StoreSettings(url=url), service=ServiceSettings(profile_deadline_ms=10_000, allowed_hosts="testserver")
    )
    engine = open_store(settings.store)
    rows = [
        EventIn(user_id=u, item_id=i, type=t, ts=datetime(2011, 12, 1, 10, n)) for n, (u, i, t) in enumerate(EVENTS)
    ]
    ProfileStore(engine, settings).ingest(rows)
    return settings, engine


def test_popularity_and_active_users_are_sql_aggregates(store_url):
    settings, engine = _store(store_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    activity = EventsActivity(engine)
    popular = activity.popular(3)
    assert [i for i, _ in popular] == ["B1", "A1", "C1"]  # distinct buyers: the repeat purchase counts once
    assert [round(s, 3) for _, s in popular] == [0.5, 0.333, 0.167]  # shares of the 6 (item, buyer) pairs
    assert activity.popular(2, exclude={"B1"}) == popular[1:3]
    assert activity.active_users(3) == ["u1", "u2", "u3"]  # 3, 2 and 2 events (ties by id), then 1 each
    read = [s for s in statements if "events" in s.lower() and "max(" not in s.lower()]
    assert read and all("GROUP BY" in s and "LIMIT" in s for s in read), read  # never the whole table
    assert all(">=" in s for s in read), read  # only the window of the newest events
    assert len(read) == 2  # cached: the second popularity call read nothing


def _app(settings, activity) -> TestClient:
    deps = ServiceDeps(settings, profiles=FakeProfiles(), ranker=FakeRanker(), index=FakeIndex(),
                       vectors=FakeVectors(), embedder=_Embedder(), activity=activity)  # fmt: skip
    return TestClient(create_app(settings, deps=deps), raise_server_exceptions=False)


def _break(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE events RENAME TO events_gone")  # every read of events fails now


def test_a_failing_store_gives_the_degraded_answers_not_a_500(tmp_path):
    settings, engine = _store(f"sqlite:///{tmp_path / 'store.db'}")
    _break(engine)
    c = _app(settings, EventsActivity(engine))
    r = c.get("/v1/recommend/nobody?k=2")
    assert r.status_code == 200 and r.json()["results"] == [] and r.json()["source"] == "popularity"
    assert r.json()["reason"] == "unknown_user"
    r = c.get("/v1/storefront/users")
    assert r.status_code == 200 and r.json() == {"users": []}


def test_a_failing_store_keeps_the_last_good_answer(tmp_path):
    settings, engine = _store(f"sqlite:///{tmp_path / 'store.db'}")
    c = _app(settings, EventsActivity(engine, refresh_s=0.0, retry_s=60.0))  # always stale: always refreshing
    assert [r["id"] for r in c.get("/v1/recommend/nobody?k=2").json()["results"]] == ["B1", "A1"]
    assert c.get("/v1/storefront/users?k=2").json() == {"users": ["u1", "u2"]}
    _break(engine)
    r = c.get("/v1/recommend/nobody?k=2")
    assert r.status_code == 200 and [x["id"] for x in r.json()["results"]] == ["B1", "A1"]
    assert c.get("/v1/storefront/users?k=2").json() == {"users": ["u1", "u2"]}


def _ingest(engine, rows) -> None:
    events = [EventIn(user_id=u, item_id=i, type=t, ts=ts) for u, i, t, ts in rows]
    ProfileStore(engine, Settings(store=StoreSettings(url="sqlite://"))).ingest(events)


def test_popularity_and_active_users_count_only_the_newest_window(store_url):
    engine = open_store(StoreSettings(url=store_url))
    newest = datetime(2024, 6, 30, 12)
    old = [(f"o{n}", "OLD", "purchase", newest - timedelta(days=400 + n)) for n in range(5)]  # five buyers, long ago
    new = [(f"n{n}", "NEW", "purchase", newest - timedelta(days=n)) for n in range(3)]  # three in the last 3 days
    _ingest(engine, old + new + [("n0", "NEWER", "purchase", newest - timedelta(days=10))])
    assert [i for i, _ in popular_items(engine, 5, Window(days=30))] == ["NEW", "NEWER"]  # OLD is out of the window
    assert [i for i, _ in popular_items(engine, 5, Window(days=3650))] == ["OLD", "NEW", "NEWER"]
    # The window is counted back from the newest event, not from today: an old history still has one.
    assert popular_items(engine, 5, Window(days=1)) == [("NEW", 1.0)]
    # At most the newest max_events: the newest two are n0 and n1's purchases of NEW.
    assert popular_items(engine, 5, Window(days=3650, max_events=2)) == [("NEW", 1.0)]
    assert active_users(engine, 10, Window(days=30)) == ["n0", "n1", "n2"]  # n0 has two events, then by id
    assert active_users(engine, 10, Window(days=3650, max_events=1)) == ["n0"]


def test_an_empty_store_has_no_popular_items_and_no_active_users(store_url):
    engine = open_store(StoreSettings(url=store_url))
    assert popular_items(engine, 5) == [] and active_users(engine, 5) == []


def _plan(engine, sql: str) -> str:
    with engine.connect() as conn:
        return " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


def test_the_newest_time_and_the_window_are_index_reads_not_table_scans(tmp_path):
    engine = open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    assert "ix_events_ts" in _plan(engine, "SELECT max(ts) FROM events")
    plan = _plan(engine, "SELECT item_id FROM events WHERE ts >= '2024-01-01' ORDER BY ts DESC LIMIT 10")
    assert "ix_events_ts" in plan and "SCAN events" not in plan.replace("SCAN events USING", ""), plan
