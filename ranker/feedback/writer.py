"""The write path of events: one batch in, stored and reflected in profiles, in one transaction.

A batch is first loaded into a temporary staging table (SQLite: multi-row ``INSERT``; PostgreSQL: ``COPY``), then
three set-based statements do the rest inside the database (measured faster than ``executemany`` straight into
the indexed tables, even on SQLite):

1. new events go into ``events`` (``ON CONFLICT DO NOTHING``: an event id already stored adds nothing);
2. the batch's in-catalog events that name an item go into ``profile_entries``, except those that newer events of
   the same user in the same batch push out of the newest N anyway (:func:`profile_marks`);
3. each user of the batch keeps only the newest N profile entries (one window-function ``DELETE``).

The caller's transaction wraps all three, so a batch is in both tables or in neither: an import killed half-way
keeps every committed batch, and running it again only adds what is missing. No ORM object is built per row."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: Column order of a staged row: (event_id, user_id, item_id, type, ts_text, quantity, value, query, session_id,
#: in_catalog, query_id); ts_text is ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC. The batch adds each row's ``seq`` (its
#: write order).
STAGE_COLUMNS = (
    "event_id", "user_id", "item_id", "type", "ts", "quantity", "value", "query", "session_id", "in_catalog",
    "query_id",
)  # fmt: skip
StagedRow = tuple
_STAGE_ROWS = 500
#: Room for a batch's rows within one millisecond of write order (a batch is at most a few 100k rows).
_SEQ_PER_MS = 1_000_000

_STAGE_DDL = {
    "sqlite": "CREATE TEMP TABLE IF NOT EXISTS event_batch (event_id TEXT, user_id TEXT, item_id TEXT, type TEXT, "
    "ts TEXT, quantity REAL, value REAL, query TEXT, session_id TEXT, in_catalog INTEGER, query_id TEXT, "
    "in_profile INTEGER, seq INTEGER)",
    "postgresql": "CREATE TEMP TABLE IF NOT EXISTS event_batch (event_id VARCHAR(128), user_id VARCHAR(128), "
    "item_id VARCHAR(128), type VARCHAR(32), ts TIMESTAMP, quantity DOUBLE PRECISION, value DOUBLE PRECISION, "
    "query VARCHAR(1024), session_id VARCHAR(128), in_catalog BOOLEAN, query_id VARCHAR(100), in_profile BOOLEAN, "
    "seq BIGINT)",
}
_COLUMNS = ", ".join(STAGE_COLUMNS)
_STORED = _COLUMNS + ", seq"
# "WHERE true": SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT to parse it.
_INSERT_EVENTS = text(
    f"INSERT INTO events ({_STORED}) SELECT {_STORED} FROM event_batch WHERE true ON CONFLICT (event_id) DO NOTHING"
)
# From the staged rows, not from events: their catalog flags are the current ones (checked for this batch).
_INSERT_PROFILE = text(
    "INSERT INTO profile_entries (user_id, event_id, item_id, type, ts, seq) "
    "SELECT user_id, event_id, item_id, type, ts, seq FROM event_batch "
    "WHERE in_catalog AND in_profile AND item_id <> '' "
    "ON CONFLICT (user_id, event_id) DO NOTHING"
)
TRIM_SQL = (
    "DELETE FROM profile_entries WHERE (user_id, event_id) IN ("
    " SELECT user_id, event_id FROM ("
    "  SELECT user_id, event_id,"
    "   row_number() OVER (PARTITION BY user_id ORDER BY ts DESC, seq DESC, event_id DESC) AS rn"
    "  FROM profile_entries WHERE user_id IN ({users})"
    " ) ranked WHERE rn > :keep)"
)
# Only users over N need the window: most users of a batch are under it (Online Retail: 91 events on average).
# SQLite plans this as index searches by user (EXPLAIN QUERY PLAN: no SCAN of profile_entries).
_TRIM_BATCH = text(
    TRIM_SQL.format(
        users="SELECT user_id FROM profile_entries WHERE user_id IN (SELECT DISTINCT user_id FROM event_batch) "
        "GROUP BY user_id HAVING COUNT(*) > :keep"
    )
)
# PostgreSQL planned the form above as three hash joins, each a full scan of profile_entries (a table that grows
# during a bulk load has no statistics yet; the staging table never has any): every batch read the whole table, so a
# 1M-event import trimmed at 0.85 s a batch and got slower with every batch. Here a LATERAL probe per batch user
# (an index scan by user_id, past the newest N) and a delete by ctid (a TID scan) leave the planner no full scan.
_TRIM_BATCH_PG = text(
    "DELETE FROM profile_entries WHERE ctid = ANY(ARRAY("
    " SELECT old.ctid FROM (SELECT DISTINCT user_id FROM event_batch) batch_users"
    " CROSS JOIN LATERAL (SELECT p.ctid FROM profile_entries p WHERE p.user_id = batch_users.user_id"
    "  ORDER BY p.ts DESC, p.seq DESC, p.event_id DESC OFFSET :keep) old))"
)


#: An import's own SQLite connection, on top of every connection's (core.store.SQLITE_PRAGMAS): a 64 MB page cache
#: (the default is 2 MB) keeps the index pages of a bulk import in memory, and checkpointing the WAL every 80 MB
#: instead of every 4 MB writes the hot pages less often (~+30%).
SQLITE_BULK_PRAGMAS = ("cache_size=-65536", "wal_autocheckpoint=20000")


@dataclass
class BatchResult:
    """What one batch did."""

    staged: int
    added: int
    users: int


def write_batch(conn: Connection, rows: Sequence[StagedRow], history_length: int) -> BatchResult:
    """Store ``rows`` and update the profiles of their users, inside the caller's transaction."""
    if not rows:
        return BatchResult(0, 0, 0)
    dialect = conn.dialect.name
    if dialect not in _STAGE_DDL:
        raise NotImplementedError(f"event storage supports SQLite and PostgreSQL, not {dialect}")
    conn.exec_driver_sql(_STAGE_DDL[dialect])
    conn.exec_driver_sql("DELETE FROM event_batch")
    marks = profile_marks(rows, history_length)
    # Write order: milliseconds of the write, then the row's place in the batch (a file's line order). Batches of one
    # writer never share a millisecond; what two writers store in the same one only ties events of the same time.
    base = time.time_ns() // 1_000_000 * _SEQ_PER_MS
    extra = [(mark, base + n) for n, (mark,) in enumerate(marks)]
    if dialect == "postgresql":
        _copy_rows(conn, rows, extra)
    else:
        _insert_rows(conn, rows, extra)
    added = conn.execute(_INSERT_EVENTS).rowcount
    conn.execute(_INSERT_PROFILE)
    conn.execute(_TRIM_BATCH_PG if dialect == "postgresql" else _TRIM_BATCH, {"keep": history_length})
    # TRUNCATE: PostgreSQL's DELETE visits every row (~5% of an import); SQLite's DELETE without WHERE does not.
    conn.exec_driver_sql("TRUNCATE event_batch" if dialect == "postgresql" else "DELETE FROM event_batch")
    return BatchResult(len(rows), int(added), len({row[1] for row in rows}))


def bulk_connection(conn: Connection) -> None:
    """Make ``conn`` an import's own connection: taken out of the engine's pool (closing it closes it) and, on
    SQLite, tuned for bulk writes. The tuning never reaches the pooled connections the service writes and reads
    with (there, 15 connections with a 64 MB page cache each would be about 1 GB)."""
    conn.detach()
    if conn.dialect.name == "sqlite":
        for pragma in SQLITE_BULK_PRAGMAS:
            conn.exec_driver_sql(f"PRAGMA {pragma}")
        conn.commit()


def profile_marks(rows: Sequence[StagedRow], keep: int) -> list[tuple[int]]:
    """``(1,)`` for a row that may enter its user's profile, ``(0,)`` for one that the batch itself pushes out:
    a user with more than ``keep`` profile rows in the batch keeps only the newest ``keep`` (by time, then write
    order, as :data:`TRIM_SQL` orders them), so they are neither inserted nor trimmed again (Online Retail: 1 row
    in 8)."""
    marks = [(1,)] * len(rows)
    counts = Counter(row[1] for row in rows if row[9] and row[2])
    heavy = {user for user, n in counts.items() if n > keep}
    if not heavy:
        return marks
    by_user: dict[str, list[int]] = defaultdict(list)
    for pos, row in enumerate(rows):
        if row[1] in heavy and row[9] and row[2]:
            by_user[row[1]].append(pos)
    for positions in by_user.values():
        positions.sort(key=lambda pos: (rows[pos][4], pos), reverse=True)
        newest: set[str] = set()
        for pos in positions:
            event_id = rows[pos][0]
            if event_id not in newest:
                if len(newest) == keep:
                    marks[pos] = (0,)
                    continue
                newest.add(event_id)
    return marks


def _insert_rows(conn: Connection, rows: Sequence[StagedRow], extra: list[tuple[int, int]]) -> None:
    # Multi-row VALUES, _STAGE_ROWS rows a statement: executemany releases and retakes the GIL around every row,
    # which stalls behind the thread that prepares the next batch (measured: 4x slower while it runs).
    cursor = conn.connection.dbapi_connection.cursor()
    width = len(STAGE_COLUMNS) + 2
    per_statement = max(1, min(_STAGE_ROWS, cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    one = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        values = ", ".join([one] * len(part))
        params = list(chain.from_iterable(map(tuple.__add__, part, extra[start : start + per_statement])))
        cursor.execute(f"INSERT INTO event_batch ({_COLUMNS}, in_profile, seq) VALUES {values}", params)
    cursor.close()


def _copy_rows(conn: Connection, rows: Sequence[StagedRow], extra: list[tuple[int, int]]) -> None:
    # COPY is PostgreSQL's bulk path: one round trip per batch instead of one per row.
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY event_batch ({_COLUMNS}, in_profile, seq) FROM STDIN") as copy:
        for row, (mark, seq) in zip(rows, extra, strict=True):
            copy.write_row((*row[:9], bool(row[9]), row[10], bool(mark), seq))


def rebuild_profiles(conn: Connection, user_ids: Sequence[str], history_length: int) -> None:
    """Recompute the profiles of ``user_ids`` from their stored events (after catalog changes)."""
    for start in range(0, len(user_ids), 500):
        chunk = list(user_ids[start : start + 500])
        params = {f"u{i}": u for i, u in enumerate(chunk)}
        users = ", ".join(f":u{i}" for i in range(len(chunk)))
        conn.execute(text(f"DELETE FROM profile_entries WHERE user_id IN ({users})"), params)
        conn.execute(
            text(
                "INSERT INTO profile_entries (user_id, event_id, item_id, type, ts, seq) "
                "SELECT user_id, event_id, item_id, type, ts, seq FROM ("
                " SELECT user_id, event_id, item_id, type, ts, seq, row_number() OVER ("
                "  PARTITION BY user_id ORDER BY ts DESC, seq DESC, event_id DESC) AS rn"
                f" FROM events WHERE user_id IN ({users}) AND in_catalog AND item_id <> ''"
                ") ranked WHERE rn <= :keep"
            ),
            {**params, "keep": history_length},
        )
