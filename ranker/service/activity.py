"""Event aggregates the service shows: what is popular (cold start), who is active (the storefront's users).

Each is one SQL aggregate with ``GROUP BY ... ORDER BY ... LIMIT n`` (SQLite and PostgreSQL) over a bounded window:
the events of the newest ``days`` (counted back from the newest stored event, one lookup in ``ix_events_ts``), at
most the newest ``max_events`` of them. So a read costs what the window holds, never what the whole history holds,
and the events never come into the process. The last good answer is kept for ``refresh_s`` and then refreshed in
the background while it is still served; a failed read keeps the last good answer (or, with none yet, raises
:class:`ComponentUnavailable`, which the routes turn into their degraded answers) and is not retried for
``retry_s``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, column, func, select, table

from core.errors import ComponentUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("recsearch.service")
#: The columns of ``events`` (:class:`ranker.feedback.tables.EventRow`) the aggregates read.
_EVENTS = table("events", column("user_id"), column("item_id"), column("type"), column("ts", DateTime))
_E = _EVENTS.c


@dataclass(frozen=True)
class Window:
    """Which events an aggregate reads: ``days`` back from the newest, at most the newest ``max_events``."""

    days: float = 30.0
    max_events: int = 1_000_000


def _recent(conn: Connection, window: Window, *where):
    """The newest events of ``window`` that match ``where``, as a subquery (item_id, user_id); None for no events."""
    newest = conn.execute(select(func.max(_E.ts))).scalar()
    if newest is None:
        return None
    since = newest - timedelta(days=window.days)
    query = select(_E.item_id, _E.user_id).where(_E.ts >= since, _E.item_id != "", *where)
    return query.order_by(_E.ts.desc()).limit(window.max_events).subquery()


def popular_items(engine: Engine, n: int, window: Window = Window()) -> list[tuple[str, float]]:
    """The ``n`` items with the most distinct buyers in ``window`` (viewers etc. when nobody bought there), each
    with its share of all (item, buyer) pairs: robust to one huge order."""
    for types in (("purchase",), None):
        with engine.connect() as conn:
            recent = _recent(conn, window, *([_E.type.in_(types)] if types else []))
            if recent is None:
                return []
            buyers = func.count(func.distinct(recent.c.user_id))
            query = select(recent.c.item_id, buyers.label("n"), func.sum(buyers).over().label("total"))
            query = query.group_by(recent.c.item_id).order_by(buyers.desc(), recent.c.item_id).limit(n)
            rows = conn.execute(query).all()
        if rows:
            return [(str(i), float(c) / (float(total) or 1.0)) for i, c, total in rows]
    return []


def active_users(engine: Engine, n: int, window: Window = Window()) -> list[str]:
    """The ``n`` users with the most events that name an item in ``window``."""
    with engine.connect() as conn:
        recent = _recent(conn, window)
        if recent is None:
            return []
        query = select(recent.c.user_id).group_by(recent.c.user_id)
        query = query.order_by(func.count().desc(), recent.c.user_id).limit(n)
        return [str(u) for u in conn.execute(query).scalars()]


class _Cached:
    """One aggregate's last good answer (read with a ``LIMIT`` of ``n``), refreshed as described above."""

    def __init__(self, name: str, read: Callable[[int], list], refresh_s: float, retry_s: float):
        self.name, self._read, self.refresh_s, self.retry_s = name, read, refresh_s, retry_s
        self._lock = threading.Lock()  # one read at a time; callers with a good answer never wait for it
        self._value: list | None = None
        self._n = 0
        self._at = 0.0
        self._failed_at = -float("inf")
        self._error = ""
        self._refreshing = False

    def get(self, n: int) -> list:
        value = self._value
        enough = value is not None and (n <= self._n or len(value) < self._n)  # a short answer had everything
        if enough and time.monotonic() - self._at < self.refresh_s:
            return value  # type: ignore[return-value]
        if enough:  # stale: served while a background read refreshes it
            self._refresh_in_background(self._n)
            return value  # type: ignore[return-value]
        return self._load(max(n, self._n))

    def _load(self, n: int) -> list:
        with self._lock:
            if self._value is not None and n <= self._n and time.monotonic() - self._at < self.refresh_s:
                return self._value
            if time.monotonic() - self._failed_at < self.retry_s:
                if self._value is not None:
                    return self._value
                raise ComponentUnavailable(self.name, self._error)
            try:
                value = self._read(n)
            except Exception as e:  # the store is an outside system: keep the last good answer
                self._failed_at = time.monotonic()
                self._error = (str(e).strip().splitlines() or [type(e).__name__])[0] or type(e).__name__
                log.warning("%s: cannot read from the store: %s", self.name, self._error)
                if self._value is not None:
                    return self._value
                raise ComponentUnavailable(self.name, self._error) from None
            self._value, self._n, self._at = value, n, time.monotonic()
            return value

    def _refresh_in_background(self, n: int) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def refresh() -> None:
            try:
                self._at = 0.0  # stale: _load reads again (or keeps the old answer on failure)
                self._load(n)
            except ComponentUnavailable:
                pass
            finally:
                self._refreshing = False

        threading.Thread(target=refresh, name=f"recsearch-{self.name}", daemon=True).start()


class EventsActivity:
    """Item popularity and active users from the stored events, read at most every ``refresh_s`` seconds."""

    def __init__(self, engine: Engine, refresh_s: float = 600.0, retry_s: float = 30.0, window: Window = Window()):
        self.engine = engine
        self._popular = _Cached("popularity", lambda n: popular_items(engine, n, window), refresh_s, retry_s)
        self._users = _Cached("active users", lambda n: active_users(engine, n, window), refresh_s, retry_s)

    def popular(self, k: int, exclude: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` most bought items, leaving out ``exclude``."""
        exclude = exclude or set()
        ranked = self._popular.get(max(k + len(exclude), 100))
        return [(i, s) for i, s in ranked if i not in exclude][:k]

    def active_users(self, k: int) -> list[str]:
        """The ``k`` users with the most events."""
        return self._users.get(max(k, 200))[:k]
