"""User profiles: the newest N interactions of each user, weighted by event type and time decay.

The ranker reads :meth:`ProfileStore.history` for every request, so it is one indexed query on
``profile_entries`` (user, time) that returns at most N rows. Profiles are maintained incrementally by the write
path (:mod:`ranker.feedback.writer`): each batch of events touches only its own users.

Weight of an interaction = type weight (``RECSEARCH_EVENTS_TYPE_WEIGHTS``) x 0.5 ** (age / half-life), with the
age counted back from the user's newest interaction (or from ``now`` when given). Counting from the newest one
keeps an old but only history meaningful (the Online Retail data ends in 2011); pass ``now`` for wall-clock decay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, delete, func, select, type_coerce
from sqlalchemy.engine import Engine

from core.settings import EventsSettings, Settings
from ranker.feedback.catalog_sync import CatalogIds, mark_unsynced
from ranker.feedback.events import EventIn, ts_text
from ranker.feedback.tables import EventRow, ProfileEntry, ensure_indexes
from ranker.feedback.writer import write_batch

log = logging.getLogger("recsearch.feedback")

_P = ProfileEntry.__table__.c
_E = EventRow.__table__.c
# The read path of every ranked request: one statement (compiled once, cached by SQLAlchemy) whose time column comes
# back as the driver gives it: SQLAlchemy's DateTime parsing of SQLite's text costs more than the query itself.
_HISTORY = (
    select(_P.item_id, _P.type, type_coerce(_P.ts, String).label("ts"))
    .where(_P.user_id == bindparam("user_id"))
    .order_by(_P.ts.desc(), _P.seq.desc(), _P.event_id.desc())
    .limit(bindparam("n"))
)


def _as_datetime(ts: Any) -> datetime | None:
    """A stored time as a naive datetime: SQLite gives the text :func:`ranker.feedback.events.ts_text` wrote,
    PostgreSQL a datetime; None for a text that is no time (written by an older release or by hand, e.g. the
    unpadded ``999-06-01 ...``): the caller skips that row rather than fail every read of the user."""
    if isinstance(ts, datetime):
        return ts
    try:
        return datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Interaction:
    """One profile interaction as the ranker sees it; ``weight`` = type weight x time decay."""

    item_id: str
    type: str
    ts: datetime
    weight: float = 1.0


@dataclass
class IngestResult:
    """What :meth:`ProfileStore.ingest` stored."""

    received: int
    added: int
    duplicates: int
    not_in_catalog: list[str] = field(default_factory=list)
    users: int = 0


class ProfileStore:
    """Read and write user profiles on the project's store (``engine`` from :func:`core.store.open_store`).

    ``catalog``: which item ids are in the live catalog (events naming others are kept, flagged and left out of
    profiles); ``None`` means unchecked (every item counts as in the catalog until the next catalog sync)."""

    def __init__(self, engine: Engine, settings: Settings | EventsSettings, catalog: CatalogIds | None = None):
        self.engine = engine
        self.settings = settings.events if isinstance(settings, Settings) else settings
        self.catalog = catalog
        with engine.begin() as conn:
            ensure_indexes(conn)  # after a first import that was killed before it built them

    # -- reading ---------------------------------------------------------------------------------------------
    def history(self, user_id: str, limit: int | None = None, now: datetime | None = None) -> list[Interaction]:
        """The user's newest interactions first (at most ``limit``, default N); empty for an unknown user."""
        n = min(limit or self.settings.history_length, self.settings.history_length)
        with self.engine.connect() as conn:
            rows = conn.execute(_HISTORY, {"user_id": user_id, "n": n}).all()
        times = [_as_datetime(ts) for _, _, ts in rows]
        if None in times:
            log.warning("user %r: %d stored profile times are unreadable; left out", user_id, times.count(None))
            rows = [row for row, ts in zip(rows, times, strict=True) if ts is not None]
            times = [ts for ts in times if ts is not None]
        if not rows:
            return []
        reference = now.replace(tzinfo=None) if now is not None else times[0]
        half_life_s = self.settings.decay_half_life_days * 86400.0
        weights = self.settings.type_weights
        default = self.settings.default_weight
        out = []
        for (item_id, type_, _), ts in zip(rows, times, strict=True):
            age = max((reference - ts).total_seconds(), 0.0)
            decay = 0.5 ** (age / half_life_s) if half_life_s > 0 else 1.0
            out.append(Interaction(item_id, type_, ts, weights.get(type_, default) * decay))
        return out

    def known(self, user_id: str) -> bool:
        """Whether any event of the user is stored (the service's ``unknown_user`` vs ``no_history``)."""
        with self.engine.connect() as conn:
            return conn.execute(select(_E.event_id).where(_E.user_id == user_id).limit(1)).first() is not None

    def purchased(self, user_id: str) -> set[str]:
        """Every item the user ever bought, the ones older than the profile included (what recommendations leave
        out when already-bought items may not come back)."""
        query = select(_E.item_id).where(_E.user_id == user_id, _E.type == "purchase", _E.item_id != "").distinct()
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def event_count(self, user_id: str) -> int:
        """How many events of the user are stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(_E.user_id == user_id)).scalar_one())

    def ping(self) -> None:
        """Raises when the store cannot be reached (the service's /readyz)."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    # -- writing ---------------------------------------------------------------------------------------------
    def ingest(self, events: list[EventIn], now: datetime | None = None) -> IngestResult:
        """Store ``events`` (idempotent by event id) and update their users' profiles before returning."""
        ids = {e.item_id for e in events if e.item_id}
        known = self.catalog.known(ids) if self.catalog is not None else ids
        rows = []
        for e in events:
            ts = e.stored_ts(now)
            rows.append(
                (e.resolved_id(ts), e.user_id, e.item_id or "", e.type, ts_text(ts), e.quantity, e.value, e.query,
                 e.session_id, 1 if e.item_id is None or e.item_id in known else 0, e.query_id)
            )  # fmt: skip
        missing = sorted(ids - set(known))
        with self.engine.begin() as conn:
            done = write_batch(conn, rows, self.settings.history_length)
            if self.catalog is None or missing:  # unchecked, or flagged against the catalog this process holds
                mark_unsynced(conn)
        return IngestResult(len(events), done.added, len(events) - done.added, missing, done.users)

    def delete_user(self, user_id: str) -> dict[str, int]:
        """Forget the user: every event and profile row, in one transaction. Returns rows deleted per table."""
        with self.engine.begin() as conn:
            profile = conn.execute(delete(ProfileEntry.__table__).where(_P.user_id == user_id)).rowcount
            events = conn.execute(delete(EventRow.__table__).where(_E.user_id == user_id)).rowcount
        return {"events": int(events), "profile_entries": int(profile)}

    def export_user(self, user_id: str) -> dict[str, Any]:
        """Everything stored about the user, as JSON-ready data (events oldest first, profile newest first)."""
        # The time as the driver gives it (SQLite: text), so one unreadable stored time cannot fail the export.
        columns = [type_coerce(c, String).label("ts") if c.name == "ts" else c for c in EventRow.__table__.c]
        with self.engine.connect() as conn:
            events = (
                conn.execute(select(*columns).where(_E.user_id == user_id).order_by(_E.ts, _E.seq, _E.event_id))
                .mappings()
                .all()
            )
        return {
            "user_id": user_id,
            "events": [_jsonable(dict(e)) for e in events],
            "profile": [
                {"item_id": i.item_id, "type": i.type, "ts": i.ts.isoformat(), "weight": round(i.weight, 6)}
                for i in self.history(user_id)
            ],
        }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    ts = _as_datetime(row["ts"])
    row["ts"] = ts.isoformat() if ts is not None else str(row["ts"])  # an unreadable one as stored
    row["in_catalog"] = bool(row["in_catalog"])
    return row
