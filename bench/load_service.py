"""Load on the ranking service: ``recadmin serve`` in its own process over the production store (PostgreSQL),
driven by locust (headless, ``bench/load_locustfile.py``) at rising concurrency.

What it measures, per concurrency level (1, 8, 32, 64 users by default; each user sends its next request as soon as
the last one is answered, so the level is the number of requests in flight), over a mix of a shop's calls
(``POST /v1/search`` 4 : ``POST /v1/rerank`` 4 : ``GET /v1/recommend/{user}`` 2 : ``POST /v1/events`` 3 :
``GET /healthz`` 1):

    throughput   requests/s of the level, and as a ratio of the first level's (how it scales with concurrency)
    latency      p50/p99 per route, and each as a ratio of ``/healthz`` at the same level (the HTTP + framework floor
                 under the same load, measured in the same run)
    errors       answers that are not 2xx, and requests without an answer, per route (goal: 0)
    memory       the service process's RSS (psutil, sampled every 2 s): at the start (after a warm-up) and at the end
                 of each level and of the run (goal: end within 10% of start)
    events       afterwards, every event id the service acknowledged (2xx) is looked up in the store's ``events``
                 table: goal acknowledged == stored, none twice, none missing; refused (non-2xx) and unanswered events
                 are counted apart (each request's events carry their own ``event_id``: locust logs them per process)

Set-up (not timed): ``--items`` Online Retail items indexed with the real MiniLM on the running node, the users of
``bench/bench_service.py`` (50 purchases each) and ``--users`` more with 5-40 events each, a seeded untrained
checkpoint of the default shape registered and activated (``bench_service.build``), all in a schema of its own on
the local PostgreSQL (``scripts/postgres start``; dropped at the end), and the service with a read and a write key.

    .venv/bin/python bench/load_service.py [--quick] [--seconds-per-level S] [--levels 1,8,32,64] [--json FILE]
                                           [--url http://127.0.0.1:9200] [--store-url URL]

The default takes about 10 minutes (130 s per level after about a minute of set-up); ``--quick`` about one
(6 s per level, 200 items). On a shared machine absolute figures move with its load: read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)

sys.path.insert(0, str(ROOT))

from bench.bench_service import QUERIES, USERS, _free_port, build, serve, wait_ready  # noqa: E402
from core.settings import OpenSearchSettings, Settings, StoreSettings  # noqa: E402

LOCUSTFILE = Path(__file__).with_name("load_locustfile.py")
ROUTES = ("/v1/search", "/v1/rerank", "/v1/recommend/{user}", "/v1/events", "/healthz")
BASELINE = "/healthz"
RSS_GOAL = 0.10  # the service's RSS at the end within 10% of the start


def store_schema(base: str) -> tuple[str, str | None]:
    """A store URL for this run: a PostgreSQL URL gets a fresh schema of its own (its name is returned to drop it
    after); any other URL (a new SQLite file) is used as given."""
    if not base.startswith("postgresql"):
        return base, None
    import psycopg

    schema = f"load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{base}?options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str | None) -> None:
    if schema is not None:
        import psycopg

        with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def add_histories(settings: Settings, ids: list[str], users: list[str]) -> None:
    """5-40 events of mixed types for each of ``users`` (a seeded draw over the catalog, in 2011)."""
    from core.store import open_store
    from ranker.feedback.events import EventIn
    from ranker.feedback.profiles import ProfileStore

    rng, start = random.Random(11), datetime(2011, 3, 1)
    events = [
        EventIn(user_id=user, item_id=rng.choice(ids), type=rng.choice(("view", "click", "add_to_cart", "purchase")),
                ts=start + timedelta(hours=rng.randrange(24 * 200)))
        for user in users for _ in range(rng.randint(5, 40))
    ]  # fmt: skip
    ProfileStore(open_store(settings.store), settings).ingest(events)


class RssSampler:
    """The RSS of process ``pid`` every ``every`` seconds in a daemon thread, and on demand (:meth:`now`)."""

    def __init__(self, pid: int, every: float = 2.0):
        self.process, self.every = psutil.Process(pid), every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        """The RSS of the process and its children (``recadmin serve --workers N``: the supervisor and its workers)."""
        rss = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a worker replaced between the listing and the read
                rss += child.memory_info().rss
        self.samples.append((time.time(), rss))
        return rss

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.now()
            except psutil.Error:
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def peak_between(self, t0: float, t1: float) -> int:
        return max((rss for t, rss in self.samples if t0 <= t <= t1), default=0)


def drain(stream, keep: list[str]) -> threading.Thread:
    """Read the service's stderr in a thread (a full pipe would stall it), keeping the last 200 lines."""

    def run() -> None:
        for line in stream:
            keep.append(line.rstrip())
            del keep[:-200]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def warm_up(http: httpx.Client, plan: dict) -> None:
    """A few requests of every route, one at a time, each of which must succeed (a set-up error stops here)."""
    read = {"Authorization": f"Bearer {plan['read_key']}"}
    for k in range(5):
        user = plan["users"][k % len(plan["users"])]
        calls = [
            http.post("/v1/search", json={"query": QUERIES[k], "k": 10, "user_id": user}, headers=read),
            http.post("/v1/rerank", headers=read,
                      json={"user_id": user, "hits": [{"id": i, "score": 1.0} for i in plan["items"][:100]]}),
            http.get(f"/v1/recommend/{user}?k=10", headers=read),
            http.post("/v1/events", headers={"Authorization": f"Bearer {plan['write_key']}"},
                      json={"events": [{"event_id": f"warmup-{plan['run_id']}-{k}", "user_id": user,
                                        "item_id": plan["items"][k], "type": "view"}]}),
        ]  # fmt: skip
        for r in calls:
            if r.status_code != 200:
                what = f"{r.request.method} {r.request.url.path}"
                raise RuntimeError(f"warm-up {what}: HTTP {r.status_code} {r.text[:300]}")


def run_level(level: int, seconds: int, url: str, plan: dict, work: Path) -> dict:
    """One locust run of ``level`` users for ``seconds``; its per-route figures from the timings it leaves."""
    out = work / f"L{level}"
    plan_path = work / f"plan-L{level}.json"
    plan_path.write_text(json.dumps({**plan, "level": level, "out_dir": str(out)}))
    cmd = [str(Path(sys.executable).with_name("locust")), "-f", str(LOCUSTFILE), "--headless", "-u", str(level),
           "-r", str(level), "-t", f"{seconds}s", "--stop-timeout", "30", "--host", url, "--only-summary",
           "--csv", str(work / f"locust-L{level}"), "--loglevel", "WARNING"]  # fmt: skip
    env = dict(os.environ, RECSEARCH_LOAD_PLAN=str(plan_path))
    with open(work / f"locust-L{level}.log", "w") as log:
        done = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=seconds + 180)
    if done.returncode not in (0, 1):  # 1: some requests failed, which the figures count
        tail = (work / f"locust-L{level}.log").read_text()[-2000:]
        raise RuntimeError(f"locust exited with {done.returncode} at level {level}:\n{tail}")
    figures = level_figures(level, out)
    if figures is None:
        raise RuntimeError(f"locust left no timings at level {level}: see {work / f'locust-L{level}.log'}")
    return figures


def level_figures(level: int, out: Path) -> dict | None:
    """The figures of one level from the timings files its locust processes left in ``out`` (None: there are none):
    per route n, req/s, p50/p99 and their ratio to /healthz's, errors by status (0: no answer); the level's totals."""
    merged: dict[str, dict] = {}
    for path in out.glob("timings-*.json"):
        for name, part in json.loads(path.read_text()).items():
            m = merged.setdefault(name, {"ms": [], "codes": {}, "span": part["span"]})
            m["ms"] += part["ms"]
            for code, n in part["codes"].items():
                m["codes"][code] = m["codes"].get(code, 0) + n
            m["span"] = [min(m["span"][0], part["span"][0]), max(m["span"][1], part["span"][1])]
    if not merged:
        return None
    span = max(m["span"][1] for m in merged.values()) - min(m["span"][0] for m in merged.values())
    routes = {}
    for name in ROUTES:
        m = merged.get(name, {"ms": [], "codes": {}})
        ms = np.asarray(m["ms"])
        errors = {c: n for c, n in m["codes"].items() if not c.startswith("2")}
        routes[name] = {
            "n": len(ms), "req_per_s": round(len(ms) / span, 1) if span else 0.0,
            "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
            "errors": sum(errors.values()), "error_codes": errors,
        }  # fmt: skip
    base = routes[BASELINE]
    for r in routes.values():
        for q in ("p50", "p99"):
            ok = r[f"{q}_ms"] is not None and base[f"{q}_ms"]
            r[f"{q}_vs_healthz"] = round(r[f"{q}_ms"] / base[f"{q}_ms"], 1) if ok else None
    total = sum(r["n"] for r in routes.values())
    return {"users": level, "seconds": round(span, 1), "requests": total, "req_per_s": round(total / span, 1),
            "errors": sum(r["errors"] for r in routes.values()), "routes": routes}  # fmt: skip


def count_events(settings: Settings, run_id: str, work: Path) -> dict:
    """Every event the locust processes sent, by outcome, against the rows of this run in the store's events table."""
    from sqlalchemy import text

    from core.store import open_store

    sent: dict[str, list[str]] = {"acked": [], "refused": [], "unanswered": []}
    for path in work.glob("**/L*/events-*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            sent[row["outcome"]].append(row["id"])
    with open_store(settings.store).connect() as conn:
        rows = conn.execute(
            text("SELECT event_id, COUNT(*) FROM events WHERE event_id LIKE :p GROUP BY event_id"), {"p": f"{run_id}-%"}
        ).all()
    stored = {event_id: n for event_id, n in rows}
    acked = set(sent["acked"])
    return {
        "sent": sum(len(v) for v in sent.values()), "acknowledged": len(sent["acked"]),
        "acknowledged_ids_repeated": len(sent["acked"]) - len(acked),
        "refused": len(sent["refused"]), "unanswered": len(sent["unanswered"]),
        "stored": len(stored), "stored_twice": sum(1 for n in stored.values() if n > 1),
        "acknowledged_and_stored": len(acked & stored.keys()),
        "acknowledged_not_stored": len(acked - stored.keys()),
        "refused_but_stored": len(set(sent["refused"]) & stored.keys()),
        "unanswered_but_stored": len(set(sent["unanswered"]) & stored.keys()),
        "stored_not_sent": len(stored.keys() - acked - set(sent["refused"]) - set(sent["unanswered"])),
    }  # fmt: skip


def exact(events: dict) -> bool:
    """The goal: every acknowledged event stored, once; nothing stored that was not sent."""
    return (events["acknowledged"] > 0 and events["acknowledged_not_stored"] == 0 and events["stored_twice"] == 0
            and events["acknowledged_ids_repeated"] == 0 and events["stored_not_sent"] == 0)  # fmt: skip


def report(result: dict) -> str:
    """The printed table: one block per level, then memory and events against their goals."""
    lines = [f"{'users':>5} {'route':<22} {'n':>7} {'req/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'p50/hz':>7} "
             f"{'p99/hz':>7} {'errors':>6}"]  # fmt: skip
    for lv in result["levels"]:
        for name, r in lv["routes"].items():
            lines.append(f"{lv['users']:>5} {name:<22} {r['n']:>7} {r['req_per_s']:>8} {r['p50_ms']!s:>9} "
                         f"{r['p99_ms']!s:>9} {r['p50_vs_healthz']!s:>7} {r['p99_vs_healthz']!s:>7} "
                         f"{r['errors']:>6}")  # fmt: skip
        lines.append(f"{lv['users']:>5} {'all':<22} {lv['requests']:>7} {lv['req_per_s']:>8}  "
                     f"(x{lv['throughput_vs_first']} the first level)  errors {lv['errors']}  RSS {lv['rss_start_mb']} "
                     f"-> {lv['rss_end_mb']} MB (peak {lv['rss_peak_mb']})")  # fmt: skip
    for row in result.get("workers_ratio", []):
        counts = [k.removeprefix("x_") for k in row if k.startswith("x_")]
        lines.append(f"{row['users']:>5} users: " + ", ".join(
            f"{c} worker(s) {row[f'req_per_s_{c}']} req/s (x{row[f'x_{c}']})" for c in counts))  # fmt: skip
    m, e = result["memory"], result["events"]
    lines.append(f"RSS: ready {m['ready_mb']} MB, start {m['start_mb']} MB, end {m['end_mb']} MB (end/start "
                 f"{m['end_vs_start']}; goal within {RSS_GOAL:.0%}: {'met' if m['flat'] else 'NOT met'}), peak "
                 f"{m['peak_mb']} MB")  # fmt: skip
    lines.append(f"errors: {result['errors']} (goal 0: {'met' if result['errors'] == 0 else 'NOT met'})")
    lines.append(f"events: sent {e['sent']}, acknowledged {e['acknowledged']}, stored {e['stored']} (acknowledged and "
                 f"stored {e['acknowledged_and_stored']}, acknowledged not stored {e['acknowledged_not_stored']}, "
                 f"stored twice {e['stored_twice']}); refused {e['refused']} ({e['refused_but_stored']} stored), "
                 f"unanswered {e['unanswered']} ({e['unanswered_but_stored']} stored); goal acknowledged == stored: "
                 f"{'met' if result['events_exact'] else 'NOT met'}")  # fmt: skip
    return "\n".join(lines)


def mb(rss: int) -> float:
    return round(rss / 2**20, 1)


def local_postgres() -> str:
    """The URL of the local PostgreSQL server (``scripts/postgres start``: started when it is not running)."""
    done = subprocess.run([str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def run(args: argparse.Namespace, embedder=None) -> dict:
    """Set up the stack, drive the service at each level (once per ``--workers`` count, each a service of its own
    over the same index and store), count the events: the result (also what --json writes). ``embedder``: an
    already loaded one for indexing (else the configured model is loaded)."""
    from core.embedding import embedder_for
    from core.opensearch.client import make_client

    base = args.store_url or local_postgres()
    work = args.work or Path(tempfile.mkdtemp(prefix="load-service-"))
    work.mkdir(parents=True, exist_ok=True)
    run_id = f"load-{uuid.uuid4().hex[:8]}"
    url, schema = store_schema(base)
    settings = Settings(
        opensearch=OpenSearchSettings(url=args.url, index_alias=run_id), store=StoreSettings(url=url),
        state_dir=work / "state",
    )  # fmt: skip
    t_setup = time.perf_counter()
    try:
        ids = build(settings, args.items, embedder=embedder or embedder_for(settings))
        users = [f"load-user-{i}" for i in range(args.users)]
        add_histories(settings, ids, users)
        plan = {"run_id": run_id, "items": ids, "users": [*USERS, *users], "queries": QUERIES,
                "cold_users": [f"cold-user-{i}" for i in range(20)],
                "read_key": uuid.uuid4().hex, "write_key": uuid.uuid4().hex}  # fmt: skip
        set_up_s = round(time.perf_counter() - t_setup, 1)
        runs = []
        for workers in args.workers:
            folder = work if len(args.workers) == 1 else work / f"workers-{workers}"
            folder.mkdir(parents=True, exist_ok=True)
            runs.append({"workers": workers, **drive(settings, plan, workers, args, folder)})
        events = count_events(settings, run_id, work)
        first = runs[0]
        result = {
            "set_up_s": set_up_s, "service_start_s": first["service_start_s"], "items": len(ids),
            "users_with_history": len(plan["users"]), "seconds_per_level": args.seconds_per_level,
            "levels": first["levels"], "errors": sum(r["errors"] for r in runs), "memory": first["memory"],
            "events": events, "events_exact": exact(events),
            "service_stderr_tail": first["stderr"], "work_dir": str(work), "run_id": run_id, "store_schema": schema,
        }  # fmt: skip
        if len(runs) > 1:
            result["workers"] = [{k: v for k, v in r.items() if k != "stderr"} for r in runs]
            result["workers_ratio"] = workers_ratio(runs)
    finally:
        make_client(settings.opensearch).indices.delete(index=f"{run_id}-v*", ignore_unavailable=True,
                                                        allow_no_indices=True)  # fmt: skip
        if not args.keep:
            drop_schema(base, schema)
            shutil.rmtree(settings.state_dir, ignore_errors=True)
    return result


def drive(settings: Settings, plan: dict, workers: int, args: argparse.Namespace, work: Path) -> dict:
    """One ``recadmin serve --workers N`` over the stack: started, every worker ready, warmed up, driven at each
    level, stopped. Its levels, memory (the RSS of the supervisor and its workers together), start time and the
    tail of its stderr."""
    port = args.port or _free_port()
    t_serve = time.perf_counter()
    proc = serve(settings, port, {"RECSEARCH_SERVICE_READ_API_KEYS": plan["read_key"],
                                  "RECSEARCH_SERVICE_WRITE_API_KEYS": plan["write_key"],
                                  "RECSEARCH_SERVICE_WORKERS": str(workers)})  # fmt: skip
    service = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=service, timeout=60) as http:
            wait_ready(http, proc)
            pids = wait_workers(service, workers, proc)
            start_s = round(time.perf_counter() - t_serve, 1)
            print(f"{workers} worker(s) {sorted(pids)} ready in {start_s} s", file=sys.stderr)
            stderr: list[str] = []
            drain(proc.stderr, stderr)
            sampler = RssSampler(proc.pid)
            ready = sampler.now()
            warm_up(http, plan)
        levels = []
        with sampler:
            start = sampler.now()
            for level in args.levels:
                t0, rss0 = time.time(), sampler.now()
                lv = run_level(level, args.seconds_per_level, service, plan, work)
                t1, rss1 = time.time(), sampler.now()
                lv.update(rss_start_mb=mb(rss0), rss_end_mb=mb(rss1), rss_peak_mb=mb(sampler.peak_between(t0, t1)))
                lv["throughput_vs_first"] = round(lv["req_per_s"] / (levels or [lv])[0]["req_per_s"], 2)
                levels.append(lv)
                print(f"{workers} worker(s), level {level}: {lv['req_per_s']} req/s, {lv['errors']} errors",
                      file=sys.stderr)  # fmt: skip
            end = sampler.now()
        if proc.poll() is not None:
            raise RuntimeError("the service exited during the run:\n" + "\n".join(stderr[-30:]))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {
        "service_start_s": start_s, "levels": levels, "errors": sum(lv["errors"] for lv in levels),
        "memory": {"ready_mb": mb(ready), "start_mb": mb(start), "end_mb": mb(end),
                   "peak_mb": mb(max(rss for _, rss in sampler.samples)), "end_vs_start": round(end / start, 3),
                   "flat": abs(end / start - 1) <= RSS_GOAL, "samples": len(sampler.samples)},
        "stderr": stderr[-20:],
    }  # fmt: skip


def wait_workers(service: str, workers: int, proc: subprocess.Popen, timeout: float = 300) -> set[int]:
    """Wait until ``workers`` distinct workers answer /readyz with their model loaded (each on a new connection: a
    kept-alive one stays with its worker); their pids (``X-Recsearch-Worker``)."""
    ready: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(ready) < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{len(ready)} of {workers} workers ready")
        for _ in range(4 * workers):
            r = httpx.get(f"{service}/readyz", timeout=60)
            if r.status_code == 200 and r.json().get("parts", {}).get("model") == "ready":
                ready.add(int(r.headers["x-recsearch-worker"]))
        time.sleep(0.2)
    return ready


def workers_ratio(runs: list[dict]) -> list[dict]:
    """Per level: requests/s of each workers count, and as a multiple of the first count's at the same level."""
    out = []
    for n, level in enumerate(runs[0]["levels"]):
        row = {"users": level["users"]}
        for r in runs:
            lv = r["levels"][n]
            row[f"req_per_s_{r['workers']}"] = lv["req_per_s"]
            row[f"x_{r['workers']}"] = round(lv["req_per_s"] / level["req_per_s"], 2)
        out.append(row)
    return out


def main(argv: list[str] | None = None, *, embedder=None) -> dict:
    """The command line; returns the result. ``embedder``: see :func:`run` (tests pass their loaded MiniLM)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 items, 6 s per level (about a minute)")
    parser.add_argument("--seconds-per-level", type=int, help="load time of each level (default 130; --quick 6)")
    parser.add_argument("--levels", default="1,8,32,64", help="comma-separated numbers of concurrent users")
    parser.add_argument("--items", type=int, help="catalog items (at least 50; default 300, --quick 200)")
    parser.add_argument("--users", type=int, default=40, help="users with a history besides bench_service's two")
    parser.add_argument("--url", default=OpenSearchSettings().url, help="OpenSearch node (RECSEARCH_OPENSEARCH_URL)")
    parser.add_argument("--store-url", help="store URL (default: the local PostgreSQL of scripts/postgres start; "
                        "a PostgreSQL URL gets a schema of its own)")  # fmt: skip
    parser.add_argument("--workers", default="1", help="comma-separated worker counts (recadmin serve --workers): "
                        "each drives its own service over the same stack, e.g. 1,2 for the ratio")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="service port (default: a free one)")
    parser.add_argument("--work", type=Path, help="folder for locust's files (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the store schema and state folder afterwards")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    try:
        args.levels = [int(n) for n in args.levels.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--levels: expected comma-separated numbers, got '{args.levels}'")
    if not args.levels or min(args.levels) < 1:
        parser.error("--levels: at least one level, each at least 1 user")
    try:
        args.workers = [int(n) for n in args.workers.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--workers: expected comma-separated numbers, got '{args.workers}'")
    if not args.workers or min(args.workers) < 1:
        parser.error("--workers: at least one count, each at least 1")
    args.seconds_per_level = args.seconds_per_level or (6 if args.quick else 130)
    args.items = args.items or (200 if args.quick else 300)
    if args.items < 50:
        parser.error("--items: at least 50 (the two bench users buy 50 items each)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run(args, embedder)
    print(json.dumps(result, indent=1))
    print("\n" + report(result), file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
