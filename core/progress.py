"""Progress of long jobs, and the read-ahead thread that overlaps producing work with consuming it.

Library code reports progress through a :data:`ProgressFn` it is given (the CLI passes a rich progress bar, tests
a list's ``append``); it never draws anything itself.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

#: Called with (units done, units in all) as a job goes: items indexed, rows imported, training steps.
ProgressFn = Callable[[int, int], None]

T = TypeVar("T")
_DONE = object()


def plain_lines(
    description: str,
    write: Callable[[str], None],
    every_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> ProgressFn:
    """A :data:`ProgressFn` that writes a plain line (``description: done/total (pct), rate, elapsed``) on the
    first update, then at most every ``every_s`` seconds, and when the job completes.

    For output that is not a terminal (a log file, CI, a pipe): a live progress bar draws nothing there, so a long
    job would otherwise be silent until it ends."""
    start = clock()
    state = {"last": None, "finished": False}

    def update(done: int, total: int) -> None:
        now = clock()
        finished = total > 0 and done >= total
        if state["finished"] or (state["last"] is not None and now - state["last"] < every_s and not finished):
            return
        elapsed = now - start
        per_s = done / elapsed if elapsed > 0 and done else 0.0
        rate = f", {per_s:,.1f}/s" if per_s >= 1 else (f", {elapsed / done:,.1f} s each" if per_s else "")
        share = f" ({100 * done / total:.0f}%)" if total > 0 else ""
        write(f"{description}: {done:,}/{total:,}{share}{rate}, {elapsed:,.0f} s")
        state["last"], state["finished"] = now, finished

    return update


@contextmanager
def prefetched(items: Iterable[T], depth: int) -> Iterator[Iterator[T]]:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead of the consumer (bounded memory).

    The producer's work (embedding the next chunk of an index build, reading and checking the next batch of an
    event import) then overlaps with the consumer's (OpenSearch indexing, SQL writes: both release the GIL). An
    exception in the producer is re-raised in the consumer; leaving the block stops the producer."""
    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def offer(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((True, item)):
                    return
            offer((True, _DONE))
        except BaseException as e:  # handed to the consumer, which raises it in its own thread
            offer((False, e))

    def consume() -> Iterator[T]:
        while True:
            ok, item = buffer.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join(timeout=30)
