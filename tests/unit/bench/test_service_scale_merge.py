"""bench_service_scale --merge: a part measured apart (the service on the node, the memory in process) joins this
run's JSON and plot without overwriting what this run measured."""

from bench.bench_service_scale import merge_parts, plot


def _service(items):
    return {"sizes": [{"items": n, "rss_mb": 900 + n // 1000, "recommend": {"p50_ms": 5.0, "p99_ms": 9.0},
                       "search": {"p50_ms": 3.0, "p99_ms": 6.0}} for n in items]}  # fmt: skip


def test_the_part_only_the_earlier_run_measured_is_kept_with_its_source():
    now = {"load_average": [4.0], "memory": [{"items": 10, "dtype": "float16", "rss_mb": 1}]}
    earlier = {"load_average": [6.0], "memory": [{"items": 99}], "service": _service([10_000, 300_000])}
    merged = merge_parts(now, earlier, "old.json")
    assert merged["memory"] == now["memory"]  # measured now: not overwritten
    assert merged["service"] == earlier["service"]
    assert merged["merged_from"] == {"path": "old.json", "parts": ["service"], "load_average": [6.0]}
    assert merged["load_average"] == [4.0]


def test_nothing_to_keep_leaves_the_result_as_it_is():
    now = {"load_average": [4.0], "service": _service([10])}
    assert merge_parts(now, {"load_average": [1.0], "service": _service([20])}, "x") == now


def test_the_merged_result_plots_both_panels(tmp_path):
    merged = merge_parts({"memory": [{"items": n, "dtype": "float16", "rss_mb": 900} for n in (10_000, 300_000)]},
                         {"service": _service([10_000, 300_000])}, "x")  # fmt: skip
    plot(merged, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000
