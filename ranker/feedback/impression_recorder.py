"""Impressions written off the request path: a bounded queue and one background writer that flushes in batches.

A request only puts its impression on the queue (:meth:`ImpressionRecorder.record`, never blocking): when the
queue is full (the sink is down or slower than the traffic) the impression is dropped and counted, and the search
is answered as ever. The writer takes what waits, up to ``RECSEARCH_UBI_BATCH_SIZE`` impressions or
``RECSEARCH_UBI_FLUSH_INTERVAL_S`` after the first, and writes them in one call of the sink; a failed write is
logged and its impressions counted as failed (an impression is a measurement, not an order: it is not retried
forever). :meth:`ImpressionRecorder.stop` writes everything still queued before it returns (a clean shutdown loses
nothing).

    recorder = ImpressionRecorder(StoreImpressions(lambda: engine), queue_size=10_000, batch_size=500)
    recorder.record(impression)          # True: queued; False: dropped (queue full)
    recorder.flush(timeout_s=5)          # everything queued so far written (tests, reports)
    recorder.stop()                      # the service's shutdown
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine

from core.settings import Settings
from ranker.feedback.impression_sinks import ImpressionSink, OpenSearchImpressions, StoreImpressions
from ranker.feedback.impressions import Impression

log = logging.getLogger("recsearch.ubi")

#: How often an idle writer looks whether it was asked to stop.
_POLL_S = 0.05


class ImpressionRecorder:
    """The queue and its writer thread (started by the first :meth:`record`). ``stats`` counts impressions by
    outcome: ``queued``, ``written``, ``dropped`` (queue full), ``failed`` (the sink raised)."""

    def __init__(self, sink: ImpressionSink, *, queue_size: int = 10_000, batch_size: int = 500,
                 flush_interval_s: float = 1.0):  # fmt: skip
        self.sink = sink
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._queue: queue.Queue[Impression] = queue.Queue(maxsize=queue_size)
        self._stats: Counter = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            return {k: self._stats[k] for k in ("queued", "written", "dropped", "failed")}

    def _count(self, outcome: str, n: int = 1) -> None:
        with self._lock:
            self._stats[outcome] += n

    def record(self, impression: Impression) -> bool:
        """Queue ``impression`` for writing; False (and counted as dropped) when the queue is full or the recorder
        stopped. Never blocks."""
        if self._stopping.is_set():
            self._count("dropped")
            return False
        self._start()
        try:
            self._queue.put_nowait(impression)
        except queue.Full:
            self._count("dropped")
            return False
        self._count("queued")
        return True

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="recsearch-impressions", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self._write(batch)
            elif self._stopping.is_set() and self._queue.empty():
                return

    def _take(self) -> list[Impression]:
        """The next batch: what waits, up to ``batch_size``, waiting at most ``flush_interval_s`` after the first
        for more (no wait once stopping: the rest goes out at once)."""
        try:
            first = self._queue.get(timeout=_POLL_S)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.flush_interval_s
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping.is_set():
                break
            try:
                batch.append(self._queue.get(timeout=min(left, _POLL_S)))
            except queue.Empty:
                continue
        return batch

    def _write(self, batch: Sequence[Impression]) -> None:
        try:
            self.sink.write(batch)
            self._count("written", len(batch))
        except Exception as e:  # the sink is an outside system: a failure costs these impressions, never a search
            self._count("failed", len(batch))
            log.warning("could not record %d impressions: %s", len(batch), e)
        finally:
            for _ in batch:
                self._queue.task_done()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every impression queued so far is written (or failed); False when ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        """Write what is queued and end the writer; later impressions are dropped (and counted)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("impression writer still busy after %.0fs; %d impressions not written",
                            timeout_s, self._queue.qsize())  # fmt: skip


class NoImpressions:
    """``RECSEARCH_UBI_SINK=none``: answers still carry a query_id; nothing is recorded."""

    @property
    def stats(self) -> dict[str, int]:
        return {}

    def record(self, impression: Impression) -> bool:
        return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        return None


def sink_for(settings: Settings, store_engine: Callable[[], Engine]) -> ImpressionSink | None:
    """The sink ``RECSEARCH_UBI_SINK`` names (None for ``none``); ``store_engine`` opens the store when first used."""
    if settings.ubi.sink == "store":
        return StoreImpressions(store_engine)
    if settings.ubi.sink == "opensearch":
        return OpenSearchImpressions(settings.opensearch, settings.ubi.index)
    return None


def recorder_for(settings: Settings, store_engine: Callable[[], Engine]) -> ImpressionRecorder | NoImpressions:
    """The service's recorder, as the ``RECSEARCH_UBI_*`` settings say."""
    sink = sink_for(settings, store_engine)
    if sink is None:
        return NoImpressions()
    u = settings.ubi
    return ImpressionRecorder(sink, queue_size=u.queue_size, batch_size=u.batch_size,
                              flush_interval_s=u.flush_interval_s)  # fmt: skip
