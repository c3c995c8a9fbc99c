"""The SQL tables of events and profiles (SQLModel, on the project's store: SQLite by default, PostgreSQL by URL).

    events            every event ever accepted, one row per event id (the idempotency key)
    profile_entries   the newest N in-catalog interactions of each user: what the ranker reads
    event_imports     one row per imported file: how far it got, so a killed import is visible and re-run
    ubi_queries       one row per answer the service gave (UBI's ubi_queries shape): who, what query, which model,
                      under which online experiment
    ubi_query_hits    what that answer showed: each item's position and what placed it (:mod:`.impressions`)

A first load into an empty ``events`` table builds its secondary indexes (:data:`BULK_LOAD_INDEXES`) once at the
end instead of row by row (see :func:`ranker.feedback.importer.import_events`); :func:`ensure_indexes` rebuilds any that
a killed first load left missing.

Profiles hold only item, type and time; weights (type weight x time decay) are computed when read, so a change of
``RECSEARCH_EVENTS_TYPE_WEIGHTS`` or of the half-life applies at once without rewriting anything.

The schema is made and changed only by the migrations in ``core/migrations/`` (:func:`core.store.open_store`):
a change to these classes needs a revision (``scripts/db-revision``), and the drift check in
``tests/unit/core/test_store.py`` fails until there is one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, select
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel


class EventRow(SQLModel, table=True):
    """One stored event."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_user_ts", "user_id", "ts"),
        Index("ix_events_item", "item_id"),
        Index("ix_events_query_id", "query_id"),
        # The service's popularity window: the newest time, and the events since (ranker/service/activity.py).
        Index("ix_events_ts", "ts"),
    )

    event_id: str = Field(sa_column=Column(String(128), primary_key=True))
    user_id: str = Field(sa_column=Column(String(128), nullable=False))
    # "" for a search event without an item (kept out of profiles and of the events frame).
    item_id: str = Field(sa_column=Column(String(128), nullable=False))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    ts: datetime = Field(sa_column=Column(DateTime, nullable=False))
    quantity: float | None = None
    value: float | None = None
    query: str | None = Field(default=None, sa_column=Column(String(1024)))
    session_id: str | None = Field(default=None, sa_column=Column(String(128)))
    # False: the item was not in the live catalog when last checked (kept, flagged, left out of profiles).
    in_catalog: bool = True
    # The order events were written in (the line order of a file, the arrival order of live events): what orders
    # events of the same time, such as the lines of one basket. 0 for events stored before the column existed.
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # The UBI query_id of the answer the event followed (a click on a search result): joins it to ubi_query_hits.
    query_id: str | None = Field(default=None, sa_column=Column(String(100)))


class ProfileEntry(SQLModel, table=True):
    """One interaction in a user's profile (a copy of the event's user, item, type and time)."""

    __tablename__ = "profile_entries"
    __table_args__ = (Index("ix_profile_user_ts", "user_id", "ts"),)

    user_id: str = Field(sa_column=Column(String(128), primary_key=True))
    event_id: str = Field(sa_column=Column(String(128), primary_key=True))
    item_id: str = Field(sa_column=Column(String(128), nullable=False))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    ts: datetime = Field(sa_column=Column(DateTime, nullable=False))
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class EventImport(SQLModel, table=True):
    """One import of a file: written at the start, updated with every committed batch, finished at the end."""

    __tablename__ = "event_imports"

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(sa_column=Column(String(1024), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    format: str = Field(sa_column=Column(String(32), nullable=False))
    started_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime))
    rows_read: int = 0
    events_added: int = 0
    rejected: int = 0
    status: str = Field(default="running", sa_column=Column(String(16), nullable=False))


class CatalogSyncState(SQLModel, table=True):
    """The catalog state the events' ``in_catalog`` flags were last synced against (one row, ``scope`` "events"):
    an import whose live catalog is still in that state skips the sync (a scan of every stored item); a write that
    stores events unchecked, or flags one against another view of the catalog, clears it (the next import syncs)."""

    __tablename__ = "catalog_sync_state"

    scope: str = Field(sa_column=Column(String(16), primary_key=True))
    state: str | None = Field(default=None, sa_column=Column(String(512)))
    synced_at: datetime | None = Field(default=None, sa_column=Column(DateTime))


class UbiQueryRow(SQLModel, table=True):
    """One answer of the service as a UBI query: ``query_response_id`` is the answer's own id (pages of one search
    may share a ``query_id``)."""

    __tablename__ = "ubi_queries"
    __table_args__ = (
        Index("ix_ubi_queries_query_id", "query_id"),
        Index("ix_ubi_queries_timestamp", "timestamp"),
        Index("ix_ubi_queries_experiment", "experiment"),
    )

    query_response_id: str = Field(sa_column=Column(String(64), primary_key=True))
    query_id: str = Field(sa_column=Column(String(100), nullable=False))
    client_id: str | None = Field(default=None, sa_column=Column(String(128)))
    user_query: str | None = Field(default=None, sa_column=Column(String(1024)))
    application: str = Field(sa_column=Column(String(32), nullable=False))
    model_version: str | None = Field(default=None, sa_column=Column(String(64)))
    personalized: bool = False
    reason: str | None = Field(default=None, sa_column=Column(String(64)))
    timestamp: datetime = Field(sa_column=Column(DateTime, nullable=False))
    # The online experiment the answer was served under (ranker.experiments; migration 0005); NULL outside one.
    experiment: str | None = Field(default=None, sa_column=Column(String(64)))


class UbiHitRow(SQLModel, table=True):
    """One item an answer showed: its position (1 = first of the whole ordering, not of the page) and what placed
    it there (a model version, ``retrieval``, ``popularity``)."""

    __tablename__ = "ubi_query_hits"
    __table_args__ = (Index("ix_ubi_query_hits_query_object", "query_id", "object_id"),)

    query_response_id: str = Field(sa_column=Column(String(64), primary_key=True))
    position: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    query_id: str = Field(sa_column=Column(String(100), nullable=False))
    object_id: str = Field(sa_column=Column(String(200), nullable=False))
    placed_by: str = Field(sa_column=Column(String(64), nullable=False))


#: Indexes of ``events`` that the write path never reads (lookups by user, by item, by query_id, by time): cheaper to
#: build once by sorting than to maintain row by row during a bulk load (~20% of a first import's database time).
BULK_LOAD_INDEXES = ("ix_events_user_ts", "ix_events_item", "ix_events_query_id", "ix_events_ts")


def _bulk_load_indexes() -> list[Index]:
    return sorted((i for i in EventRow.__table__.indexes if i.name in BULK_LOAD_INDEXES), key=lambda i: i.name)


def defer_indexes(conn: Connection) -> bool:
    """On an empty ``events`` table, drop :data:`BULK_LOAD_INDEXES` (True: the caller rebuilds them with
    :func:`ensure_indexes` when the load ends); on a non-empty one, make sure they exist and return False."""
    if conn.execute(select(EventRow.__table__.c.event_id).limit(1)).first() is not None:
        ensure_indexes(conn)
        return False
    for index in _bulk_load_indexes():
        index.drop(conn, checkfirst=True)
    return True


def ensure_indexes(conn: Connection) -> None:
    """Create whichever of :data:`BULK_LOAD_INDEXES` is missing (after a bulk load, or one that was killed)."""
    for index in _bulk_load_indexes():
        index.create(conn, checkfirst=True)
