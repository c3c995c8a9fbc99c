"""Profile trims at scale: each batch reads only its own users' profiles (never the whole table), and what they keep
is each user's newest N, on SQLite and PostgreSQL (real servers)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import event, select

from core.settings import StoreSettings
from core.store import open_store
from ranker.feedback import writer
from ranker.feedback.events import ts_text
from ranker.feedback.tables import ProfileEntry

T0 = datetime(2024, 1, 1)


def _rows(users: int, per_user: int, seed: int, prefix: str) -> list[tuple]:
    """Staged rows (writer.STAGE_COLUMNS) in a shuffled order, some of one user at the same time (a basket)."""
    rng = random.Random(seed)
    rows = [
        (f"{prefix}{u}-{k}", f"u{u}", f"I{rng.randrange(50)}", "view", ts_text(T0 + timedelta(hours=rng.randrange(30))),
         None, None, None, None, 1, None)
        for u in range(users) for k in range(per_user)
    ]  # fmt: skip
    rng.shuffle(rows)
    return rows


def _newest(rows: list[tuple], keep: int) -> dict[str, set[str]]:
    """The oracle: per user the ``keep`` newest event ids by (time, write order), as TRIM_SQL orders them."""
    by_user: dict[str, list[tuple]] = {}
    for order, row in enumerate(rows):
        by_user.setdefault(row[1], []).append((row[4], order, row[0]))
    return {u: {e for _, _, e in sorted(v, reverse=True)[:keep]} for u, v in by_user.items()}


def test_every_profile_keeps_its_newest_n_across_batches(store_url):
    engine = open_store(StoreSettings(url=store_url))
    keep, written = 7, []
    for batch in range(4):  # four batches of 30 users x 5 rows: users fill up and are trimmed batch after batch
        rows = _rows(30, 5, seed=batch, prefix=f"b{batch}-")
        with engine.begin() as conn:
            writer.write_batch(conn, rows, keep)
        written += rows
    p = ProfileEntry.__table__.c
    with engine.connect() as conn:
        stored = conn.execute(select(p.user_id, p.event_id)).all()
    kept: dict[str, set[str]] = {}
    for user, event_id in stored:
        kept.setdefault(user, set()).add(event_id)
    assert kept == _newest(written, keep)


def test_the_trim_reads_the_batch_users_by_index_not_the_whole_profile_table(postgres_server):
    """PostgreSQL has no statistics for a table a bulk load is filling (nor ever for the staging table): the trim
    must still not plan a full scan of profile_entries, or every batch costs the size of the table."""
    import uuid

    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{postgres_server}?options=-csearch_path%3D{schema}"
    try:
        engine = open_store(StoreSettings(url=url))
        with engine.begin() as conn:
            writer.write_batch(conn, _rows(2000, 20, seed=1, prefix="a"), 100)  # 40,000 profile rows
        trims: list[tuple] = []

        def seen(conn, cursor, statement, params, context, many) -> None:
            if statement.lstrip().startswith("DELETE FROM profile_entries"):
                trims.append((statement, params))

        event.listen(engine, "before_cursor_execute", seen)
        with engine.begin() as conn:
            writer.write_batch(conn, _rows(3, 2, seed=2, prefix="b"), 100)  # the trim a batch runs, as it runs it
            ((statement, params),) = trims
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
            conn.rollback()
        engine.dispose()
        assert "Seq Scan on profile_entries" not in plan, plan
        assert "Index" in plan and "profile_entries" in plan, plan
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
