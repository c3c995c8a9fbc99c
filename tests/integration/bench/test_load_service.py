"""The load suite (bench/load_service.py) end to end, briefly, so it cannot silently rot: the real node, MiniLM, the
real PostgreSQL store, ``recadmin serve`` in its own process and locust at two small levels for a few seconds each.
What it asserts is the harness's accounting: every route measured at every level, and the events the service
acknowledged counted in the store, each once, checked here against the store and locust's logs directly."""

from __future__ import annotations

import json

import psycopg

from bench import load_service

LEVELS = (1, 3)


def test_load_run_measures_every_route_and_finds_each_acknowledged_event_stored_once(
    tmp_path, opensearch_node, minilm, postgres_server
):
    out = tmp_path / "load.json"
    argv = ["--url", opensearch_node.url, "--store-url", postgres_server, "--items", "60", "--users", "3",
            "--levels", ",".join(map(str, LEVELS)), "--seconds-per-level", "3", "--work", str(tmp_path / "work"),
            "--json", str(out), "--keep"]  # fmt: skip
    result = load_service.main(argv, embedder=minilm)
    schema = result["store_schema"]
    try:
        assert json.loads(out.read_text())["events"] == result["events"]
        assert [lv["users"] for lv in result["levels"]] == list(LEVELS)
        for lv in result["levels"]:
            # Each locust user calls every route once before the weighted mix: each is measured at every level.
            assert set(lv["routes"]) == set(load_service.ROUTES)
            for name, route in lv["routes"].items():
                assert route["n"] >= lv["users"], (lv["users"], name, route)
                assert route["p50_ms"] > 0 and route["p99_ms"] >= route["p50_ms"]
            assert lv["requests"] == sum(r["n"] for r in lv["routes"].values())
            assert lv["routes"]["/healthz"]["p50_vs_healthz"] == 1.0
        assert result["memory"]["samples"] >= 2 and result["memory"]["start_mb"] > 0

        # The harness's event count against locust's own logs and a direct look at the store.
        logged = [json.loads(line) for p in (tmp_path / "work").glob("L*/events-*.jsonl")
                  for line in p.read_text().splitlines()]  # fmt: skip
        acked = {row["id"] for row in logged if row["outcome"] == "acked"}
        plain = postgres_server.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain) as conn:
            stored = [row[0] for row in conn.execute(
                f"SELECT event_id FROM {schema}.events WHERE event_id LIKE %s", (f"{result['run_id']}-%",)
            )]  # fmt: skip
        events = result["events"]
        assert acked and events["acknowledged"] == len(acked) == len([r for r in logged if r["outcome"] == "acked"])
        assert events["sent"] == len(logged)
        assert events["stored"] == len(set(stored)) and events["stored_twice"] == len(stored) - len(set(stored)) == 0
        assert events["acknowledged_not_stored"] == len(acked - set(stored)) == 0
        assert result["events_exact"] is True
    finally:
        load_service.drop_schema(postgres_server, schema)
