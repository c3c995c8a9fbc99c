"""bench_event_scale's own arithmetic: where in a file an import slowed down."""

from __future__ import annotations

from bench.bench_event_scale import rate_by_part


def test_rate_by_part_reports_each_slice_of_the_file():
    # 10 rows a batch; the batches of the last three fifths take 2, 2 and 4 seconds
    marks = [(0, 0.0), (10, 1.0), (20, 2.0), (30, 4.0), (40, 6.0), (50, 10.0)]
    assert rate_by_part(marks, 5) == [10, 10, 5, 5, 2]


def test_rate_by_part_with_fewer_batches_than_slices():
    assert rate_by_part([(0, 0.0), (60, 2.0)], 5) == [30]
    assert rate_by_part([(0, 0.0), (30, 1.0), (60, 4.0)], 5) == [30, 10]
    assert rate_by_part([(0, 0.0)], 5) == []
