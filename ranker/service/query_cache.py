"""The query-embedding cache: repeated queries (common in a shop) are embedded once.

Thread-safe: the sync routes run on many threads at once, and an ``OrderedDict`` touched from two of them can lose
a key between a read and ``move_to_end`` (a ``KeyError``, review L2). Keys carry the embedding model, so a vector
of the model the index used before a rebuild is never served for the new one."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable


class QueryCache:
    """At most ``size`` query vectors, least recently used out first."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._lock = threading.Lock()
        self._vectors: OrderedDict[tuple[str, str], list[float]] = OrderedDict()

    def get(self, model: str, text: str, embed: Callable[[str], list[float]]) -> list[float]:
        """The cached vector of ``text`` under ``model``, else ``embed(text)`` (outside the lock), cached."""
        key = (model, text)
        with self._lock:
            cached = self._vectors.get(key)
            if cached is not None:
                self._vectors.move_to_end(key)
                return cached
        vector = embed(text)
        with self._lock:
            self._vectors[key] = vector
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector

    def clear(self) -> None:
        """Forget every vector (the embedding model changed)."""
        with self._lock:
            self._vectors.clear()

    def __len__(self) -> int:
        return len(self._vectors)
