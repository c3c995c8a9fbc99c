"""Profile store reads with a per-request deadline.

A request thread never waits on the database for longer than ``RECSEARCH_SERVICE_PROFILE_DEADLINE_MS``: the read
runs on a small pool of its own (as many threads as the engine keeps connections, so stuck reads cannot pile up
without bound) and the request stops waiting at the deadline. The read that was too slow finishes (or fails) in
the background, bounded by the engine's own timeouts; a read still queued at the deadline is dropped.

    reads = DeadlineReads(workers=5, deadline_s=0.15)
    history = reads.run(store.history, "u1")      # raises ProfileDeadline after 150 ms
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")


class ProfileDeadline(Exception):
    """A profile store read did not answer within the request's deadline (the caller degrades)."""


class DeadlineReads:
    """Runs blocking reads on ``workers`` threads and waits at most ``deadline_s`` for each."""

    def __init__(self, workers: int, deadline_s: float):
        self.deadline_s = deadline_s
        self._pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="recsearch-profile")

    def run(self, fn: Callable[..., T], *args, deadline_s: float | None = None) -> T:
        """``fn(*args)``'s result; its exception as raised; :class:`ProfileDeadline` past the deadline."""
        wait = self.deadline_s if deadline_s is None else deadline_s
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=wait)
        except FutureTimeout:
            future.cancel()  # still queued behind stuck reads: it never runs
            raise ProfileDeadline(f"no answer within {int(wait * 1000)} ms") from None
