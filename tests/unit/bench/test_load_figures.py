"""The load suite's arithmetic (bench/load_service.py) on timings files written as its locustfile writes them."""

from __future__ import annotations

import json

from bench.load_service import ROUTES, exact, level_figures, workers_ratio


def _write(out, pid: int, body: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"timings-L8-{pid}.json").write_text(json.dumps(body))


def test_two_processes_merge_into_per_route_figures_with_errors_by_status(tmp_path):
    _write(tmp_path, 1, {
        "/healthz": {"ms": [1.0, 3.0], "codes": {"200": 2}, "span": [100.0, 105.0]},
        "/v1/search": {"ms": [10.0, 20.0], "codes": {"200": 1, "503": 1}, "span": [100.0, 104.0]},
    })  # fmt: skip
    _write(tmp_path, 2, {
        "/healthz": {"ms": [2.0], "codes": {"200": 1}, "span": [101.0, 110.0]},
        "/v1/search": {"ms": [30.0], "codes": {"0": 1}, "span": [102.0, 103.0]},
    })  # fmt: skip
    figures = level_figures(8, tmp_path)
    assert figures["users"] == 8 and figures["seconds"] == 10.0 and figures["requests"] == 6
    assert figures["req_per_s"] == 0.6 and figures["errors"] == 2
    search, health = figures["routes"]["/v1/search"], figures["routes"]["/healthz"]
    assert search["n"] == 3 and search["p50_ms"] == 20.0 and search["errors"] == 2
    assert search["error_codes"] == {"503": 1, "0": 1}
    assert health["p50_ms"] == 2.0 and health["errors"] == 0 and search["p50_vs_healthz"] == 10.0
    # A route nobody called is listed with no figures rather than left out.
    assert set(figures["routes"]) == set(ROUTES) and figures["routes"]["/v1/rerank"]["n"] == 0
    assert figures["routes"]["/v1/rerank"]["p50_vs_healthz"] is None


def test_no_timings_give_no_figures(tmp_path):
    assert level_figures(1, tmp_path) is None


def test_the_events_goal_fails_on_a_missing_or_doubled_or_unsent_event():
    good = {"acknowledged": 5, "acknowledged_not_stored": 0, "stored_twice": 0, "acknowledged_ids_repeated": 0,
            "stored_not_sent": 0}  # fmt: skip
    assert exact(good)
    for field in ("acknowledged_not_stored", "stored_twice", "acknowledged_ids_repeated", "stored_not_sent"):
        assert not exact({**good, field: 1}), field
    assert not exact({**good, "acknowledged": 0})  # nothing acknowledged proves nothing


def test_the_workers_ratio_compares_each_count_with_the_first_at_the_same_level():
    runs = [{"workers": 1, "levels": [{"users": 8, "req_per_s": 50.0}, {"users": 16, "req_per_s": 40.0}]},
            {"workers": 2, "levels": [{"users": 8, "req_per_s": 60.0}, {"users": 16, "req_per_s": 62.0}]}]  # fmt: skip
    assert workers_ratio(runs) == [
        {"users": 8, "req_per_s_1": 50.0, "x_1": 1.0, "req_per_s_2": 60.0, "x_2": 1.2},
        {"users": 16, "req_per_s_1": 40.0, "x_1": 1.0, "req_per_s_2": 62.0, "x_2": 1.55},
    ]
