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
