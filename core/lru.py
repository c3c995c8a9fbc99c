"""A thread-safe least-recently-used cache whose values are built outside its lock.

The service computes on a pool of threads; an ``OrderedDict`` touched from two of them can lose a key between a
read and ``move_to_end`` (a ``KeyError``, review L2), so every touch holds the lock. Building a missing value does
not: two threads missing the same key at once both build it (equal values), and neither waits for the other.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    """At most ``size`` values (0 or less: none kept, every ``get`` builds), least recently used out first."""

    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        """The value kept under ``key``, else ``build()`` (outside the lock), kept."""
        if self.size <= 0:
            return build()
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
        value = build()
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
