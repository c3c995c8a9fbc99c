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


def test_the_sync_phase_runs_a_full_sync_then_skips_it_with_the_catalog_unchanged(tmp_path):
    from bench.bench_event_scale import phase_import, phase_sync
    from bench.synth_shop import ShopParams, generate

    generate(ShopParams(items=40, users=10, events=300, days=30, seed=3), tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert phase_import(url, tmp_path / "events.parquet")["added"] == 300
    timed = phase_sync(url, tmp_path / "catalog.parquet")  # asserts: the first synced, the second skipped
    assert timed["seconds"] > 0 and timed["unchanged_seconds"] > 0
