"""Event aggregates the service shows: what is popular (cold start), who is active (the storefront's users)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class EventsActivity:
    """Item popularity and active users from the imported events (``ranker.feedback.frames.events_frame``),
    recomputed at most every ``refresh_s`` seconds."""

    def __init__(self, engine: Engine, refresh_s: float = 600.0):
        self.engine = engine
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._at = 0.0
        self._popular: list[tuple[str, float]] = []
        self._users: list[str] = []

    def _refresh(self) -> None:
        with self._lock:
            if self._at and time.monotonic() - self._at < self.refresh_s:
                return
            from ranker.feedback import events_frame

            frame = events_frame(self.engine)
            if len(frame):
                # Popularity = distinct buyers (or viewers when nobody bought): robust to one huge order.
                bought = frame[frame["type"] == "purchase"]
                basis = bought if len(bought) else frame
                counts = basis.groupby("item_id")["user_id"].nunique().sort_values(ascending=False)
                total = float(counts.sum()) or 1.0
                self._popular = [(str(i), float(c) / total) for i, c in counts.items()]
                self._users = [str(u) for u in frame["user_id"].value_counts().index]
            else:
                self._popular, self._users = [], []
            self._at = time.monotonic()

    def popular(self, k: int, exclude: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` most bought items, leaving out ``exclude``."""
        self._refresh()
        exclude = exclude or set()
        return [(i, s) for i, s in self._popular if i not in exclude][:k]

    def active_users(self, k: int) -> list[str]:
        """The ``k`` users with the most events."""
        self._refresh()
        return self._users[:k]
