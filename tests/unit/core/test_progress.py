"""The read-ahead that lets embedding overlap with bulk indexing."""

import threading

import pytest

from core.progress import prefetched


def test_items_come_through_in_order_from_another_thread():
    seen_threads = set()

    def items():
        for i in range(1000):
            seen_threads.add(threading.current_thread().name)
            yield i

    with prefetched(items(), depth=10) as ahead:
        assert list(ahead) == list(range(1000))
    assert seen_threads == {"read-ahead"}


def test_a_producer_error_reaches_the_consumer_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise RuntimeError("embedding backend died")

    got = []
    with pytest.raises(RuntimeError, match="died"), prefetched(items(), depth=1) as ahead:
        for item in ahead:
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_producer_and_bounds_read_ahead():
    produced = []

    def items():
        for i in range(10_000):
            produced.append(i)
            yield i

    with prefetched(items(), depth=5) as ahead:
        assert next(ahead) == 0
    # the consumer took one item; the producer ran at most depth (+ the one in hand) ahead, then stopped
    assert len(produced) <= 8
    assert not any(t.name == "bulk-prefetch" and t.is_alive() for t in threading.enumerate())


def test_plain_lines_write_at_the_start_every_interval_and_once_at_the_end():
    from core.progress import plain_lines

    now = [100.0]
    lines: list[str] = []
    update = plain_lines("enriching", lines.append, every_s=10.0, clock=lambda: now[0])
    now[0] = 102.0
    update(1, 24)  # the first update: a line at once
    now[0] = 105.0
    update(2, 24)  # 3 s later: quiet
    now[0] = 112.5
    update(9, 24)  # 10.5 s after the last line: a line
    now[0] = 113.0
    update(24, 24)  # done: a line however soon
    update(24, 24)  # and only one
    assert lines == ["enriching: 1/24 (4%), 2.0 s each, 2 s", "enriching: 9/24 (38%), 1.4 s each, 12 s",
                     "enriching: 24/24 (100%), 1.8/s, 13 s"]  # fmt: skip
