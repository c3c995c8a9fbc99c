"""Event aggregates the service shows: what is popular (cold start), who is active (the storefront's users).

Each is one SQL aggregate with ``GROUP BY ... ORDER BY ... LIMIT n`` (SQLite and PostgreSQL): the events never come
into the process. The last good answer is kept for ``refresh_s`` and then refreshed in the background while it is
still served; a failed read keeps the last good answer (or, with none yet, raises :class:`ComponentUnavailable`,
which the routes turn into their degraded answers) and is not retried for ``retry_s``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import column, func, select, table

from core.errors import ComponentUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger("recsearch.service")
#: The columns of ``events`` (:class:`ranker.feedback.tables.EventRow`) the aggregates read.
_E = table("events", column("user_id"), column("item_id"), column("type")).c


def popular_items(engine: Engine, n: int) -> list[tuple[str, float]]:
    """The ``n`` items with the most distinct buyers (viewers etc. when nobody bought), each with its share of all
    (item, buyer) pairs: robust to one huge order."""
    for types in (("purchase",), None):
        buyers = func.count(func.distinct(_E.user_id))
        query = select(_E.item_id, buyers.label("n"), func.sum(buyers).over().label("total")).where(_E.item_id != "")
        if types:
            query = query.where(_E.type.in_(types))
        query = query.group_by(_E.item_id).order_by(buyers.desc(), _E.item_id).limit(n)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        if rows:
            return [(str(i), float(c) / (float(total) or 1.0)) for i, c, total in rows]
    return []


def active_users(engine: Engine, n: int) -> list[str]:
    """The ``n`` users with the most events that name an item."""
    events = func.count()
    query = select(_E.user_id).where(_E.item_id != "").group_by(_E.user_id)
    with engine.connect() as conn:
        return [str(u) for u in conn.execute(query.order_by(events.desc(), _E.user_id).limit(n)).scalars()]


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

    def __init__(self, engine: Engine, refresh_s: float = 600.0, retry_s: float = 30.0):
        self.engine = engine
        self._popular = _Cached("popularity", lambda n: popular_items(engine, n), refresh_s, retry_s)
        self._users = _Cached("active users", lambda n: active_users(engine, n), refresh_s, retry_s)

    def popular(self, k: int, exclude: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` most bought items, leaving out ``exclude``."""
        exclude = exclude or set()
        ranked = self._popular.get(max(k + len(exclude), 100))
        return [(i, s) for i, s in ranked if i not in exclude][:k]

    def active_users(self, k: int) -> list[str]:
        """The ``k`` users with the most events."""
        return self._users.get(max(k, 200))[:k]
