"""Impressions: the UBI query shape, and the recorder's queue (batches, drop when full, flush on stop, failures
counted). The sinks against a real store and a real node: tests/integration/ranker/feedback/test_ubi.py."""

from __future__ import annotations

import threading
import uuid

from ranker.feedback import Impression, ImpressionRecorder, new_query_id, shown


def _impression(n: int = 0, query_id: str | None = None) -> Impression:
    return Impression(
        query_id=query_id or f"q-{n}",
        application="search",
        client_id="u1",
        user_query="red mug",
        hits=shown(["A1", "B1", "C1"], ["v3", "v3", "retrieval"], offset=10),
        model_version="v3",
        personalized=True,
    )


class ListSink:
    """Keeps each batch it is given; ``gate`` (when set) holds every write until it opens; ``fail`` raises."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False):
        self.batches: list[list[Impression]] = []
        self.gate = gate
        self.fail = fail
        self.entered = threading.Event()

    def write(self, batch):
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        if self.fail:
            raise ConnectionError("the sink is down")
        self.batches.append(list(batch))

    @property
    def written(self) -> list[str]:
        return [i.query_id for b in self.batches for i in b]


def test_a_ubi_query_has_the_spec_fields_positions_and_placed_by():
    doc = _impression().ubi_query()
    assert {"query_id", "query_response_id", "client_id", "user_query", "application", "timestamp",
            "query_response_hit_ids", "query_attributes"} <= set(doc)  # fmt: skip
    assert doc["query_response_hit_ids"] == ["A1", "B1", "C1"]
    assert doc["query_attributes"]["positions"] == [11, 12, 13]  # offset 10: the page starts at the 11th place
    assert doc["query_attributes"]["placed_by"] == ["v3", "v3", "retrieval"]
    assert doc["timestamp"].endswith("Z") and doc["client_id"] == "u1"
    assert doc["query_response_id"] != _impression().ubi_query()["query_response_id"]  # one per answer


def test_new_query_ids_are_uuid4():
    made = new_query_id()
    assert uuid.UUID(made).version == 4 and made != new_query_id()


def test_the_writer_writes_in_batches_of_at_most_batch_size():
    gate = threading.Event()
    sink = ListSink(gate)
    recorder = ImpressionRecorder(sink, queue_size=100, batch_size=4, flush_interval_s=0.01)
    recorder.record(_impression(0))
    assert sink.entered.wait(10)  # the writer holds the first batch: the next nine wait in the queue
    for n in range(1, 10):
        assert recorder.record(_impression(n))
    gate.set()
    assert recorder.flush(30)
    assert sink.written == [f"q-{n}" for n in range(10)]
    assert [len(b) for b in sink.batches] == [1, 4, 4, 1]
    assert recorder.stats == {"queued": 10, "written": 10, "dropped": 0, "failed": 0}
    recorder.stop()


def test_a_full_queue_drops_and_counts_instead_of_blocking():
    gate = threading.Event()
    sink = ListSink(gate)
    recorder = ImpressionRecorder(sink, queue_size=2, batch_size=10, flush_interval_s=0.01)
    assert recorder.record(_impression(0))
    assert sink.entered.wait(10)  # the sink is stuck on the first one
    assert recorder.record(_impression(1)) and recorder.record(_impression(2))
    assert recorder.record(_impression(3)) is False  # full: dropped at once, the caller goes on
    assert recorder.stats["dropped"] == 1
    gate.set()
    recorder.stop()
    assert sink.written == ["q-0", "q-1", "q-2"]


def test_stop_writes_everything_still_queued():
    sink = ListSink()
    recorder = ImpressionRecorder(sink, queue_size=1000, batch_size=50, flush_interval_s=60)  # would wait a minute
    for n in range(120):
        recorder.record(_impression(n))
    recorder.stop()
    assert sink.written == [f"q-{n}" for n in range(120)]
    assert recorder.record(_impression(999)) is False  # after stop: dropped, counted
    assert recorder.stats == {"queued": 120, "written": 120, "dropped": 1, "failed": 0}


def test_a_failing_sink_is_counted_and_the_writer_keeps_going(caplog):
    sink = ListSink(fail=True)
    recorder = ImpressionRecorder(sink, queue_size=10, batch_size=5, flush_interval_s=0.01)
    recorder.record(_impression(0))
    assert recorder.flush(30)
    assert recorder.stats["failed"] == 1 and "the sink is down" in caplog.text
    sink.fail = False
    recorder.record(_impression(1))
    recorder.stop()
    assert sink.written == ["q-1"] and recorder.stats["written"] == 1
