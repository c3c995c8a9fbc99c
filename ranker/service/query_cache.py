"""The query-embedding cache: repeated queries (common in a shop) are embedded once.

Thread-safe (:class:`core.lru.LruCache`: the sync routes run on many threads at once). Keys carry the embedding
model, so a vector of the model the index used before a rebuild is never served for the new one."""

from __future__ import annotations

from collections.abc import Callable

from core.lru import LruCache


class QueryCache(LruCache[list[float]]):
    """At most ``size`` query vectors, least recently used out first."""

    def __init__(self, size: int = 1024):
        super().__init__(size)

    def get(self, model: str, text: str, embed: Callable[[str], list[float]]) -> list[float]:  # type: ignore[override]
        """The cached vector of ``text`` under ``model``, else ``embed(text)`` (outside the lock), cached."""
        return super().get((model, text), lambda: embed(text))
