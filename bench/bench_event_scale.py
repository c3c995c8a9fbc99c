"""Event import at scale (SQLite and PostgreSQL), against a raw bulk insert of the same rows in the same run.

    for each size N (a synthetic shop, bench/synth_shop.py: N events, N/40 users, Parquet):
    import        `recadmin feedback import` as a library call (ranker.feedback.importer.import_events) into a
                  fresh store: read, check, stage, events + profiles + trims, one transaction per batch
    raw           the same checked rows (checked untimed) by sqlite3 ``executemany`` / psycopg ``COPY`` into a
                  table with only the primary key, one commit per batch: the floor a Python import can reach
    increment     then a file of INCREMENT new events (the first rows of the shop, new ids, a year later) imported
                  into the store that now holds N: the per-batch work (conflict checks, profile trims, indexes
                  maintained row by row) against a table of size N
    sync          then the catalog sync an import runs when the catalog changed (every stored item read and
                  checked) in that store, and the same sync with the catalog unchanged (skipped: what an import pays)
      goals       import events/s at the largest N >= 0.7 x at the smallest; peak RSS of the import flat; the
                  increment's events/s flat across N
    also          importer/raw per size; each phase runs in a process of its own (peak RSS = its VmHWM)

    PYTHONPATH=. .venv/bin/python bench/bench_event_scale.py [--quick] [--sizes 1000000,5000000,20000000]
        [--random-ids] [--no-postgres] [--json PATH] [--plot PATH]

Default sizes 1M, 5M, 20M (20M: about an hour on 2 cores); --quick 100k, 300k, 1M (minutes). PostgreSQL is the
local server of `scripts/postgres start` (a schema of its own per size, dropped after). ``--random-ids``: the shop's
event ids are UUID-shaped and in random order (``synth_shop --random-ids``), as a shop sending UUIDs: every insert
lands somewhere in the primary-key index instead of at its end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = "1000000,5000000,20000000"
QUICK = "100000,300000,1000000"
INCREMENT = 20_000
USERS_PER_EVENT = 1 / 40
ITEMS = 50_000


def _peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``; not ``ru_maxrss``, which a child inherits from its forking parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def phase_import(url: str, path: Path) -> dict:
    """The product's import of ``path`` into the store at ``url`` (no catalog check: no node needed)."""
    from core.settings import Settings, StoreSettings
    from core.store import open_store
    from ranker.feedback.importer import import_events

    settings = Settings(store=StoreSettings(url=url), state_dir=Path(tempfile.mkdtemp(prefix="bench-events-")))
    marks = [(0, time.perf_counter())]
    try:
        r = import_events(open_store(settings.store), settings, path,
                          progress=lambda done, _total: marks.append((done, time.perf_counter())))  # fmt: skip
    finally:
        shutil.rmtree(settings.state_dir, ignore_errors=True)
    return {"seconds": r.seconds, "added": r.events_added, "rejected": r.rejected, "rss_mb": _peak_rss_mb(),
            "rate_by_fifth": rate_by_part(marks, 5)}  # fmt: skip


def phase_sync(url: str, catalog: Path) -> dict:
    """In the store at ``url``: the catalog sync an import runs when the catalog changed (every stored item read
    and checked: it grows with the store), then the same sync with the catalog unchanged (skipped)."""
    from core.settings import StoreSettings
    from core.store import open_store
    from ranker.feedback.catalog_sync import SetCatalog, sync_catalog

    engine = open_store(StoreSettings(url=url))
    ids = pd.read_parquet(catalog, columns=["id"])["id"].astype(str)
    shop = SetCatalog(ids, state="bench")
    started = time.perf_counter()
    full = sync_catalog(engine, shop, history_length=100, force=True)
    full_s = time.perf_counter() - started
    started = time.perf_counter()
    unchanged = sync_catalog(engine, shop, history_length=100)
    assert not full.skipped and unchanged.skipped and full.events_flagged == 0, (full, unchanged)
    return {"seconds": full_s, "unchanged_seconds": time.perf_counter() - started}


def rate_by_part(marks: list[tuple[int, float]], parts: int) -> list[int]:
    """Rows per second of the batches in each of ``parts`` equal slices of the file, from ``(rows done, time)``
    marks taken after every batch: where in the file an import slows down (the deferred index builds at the end
    are not in it)."""
    total = marks[-1][0]
    if total == 0 or len(marks) < 2:
        return []
    rates, start = [], 0
    for part in range(1, parts + 1):
        end = next((i for i, (done, _) in enumerate(marks) if done >= total * part / parts), len(marks) - 1)
        if end > start:
            rows, seconds = marks[end][0] - marks[start][0], marks[end][1] - marks[start][1]
            rates.append(round(rows / seconds) if seconds > 0 else 0)
            start = end
    return rates


def phase_raw(url: str, path: Path) -> dict:
    """The baseline: every batch checked as the import checks it (untimed), then only its insert timed."""
    from core.settings import EventsSettings
    from ranker.feedback.mapping import EventMapping, check_rows
    from ranker.feedback.sources import read_chunks

    insert, close = _raw_sqlite(url) if url.startswith("sqlite") else _raw_postgres(url)
    seconds, rows_in = 0.0, 0
    for chunk in read_chunks(path, "parquet", EventMapping(), EventsSettings().batch_size):
        rows = check_rows(chunk.frame, str(path))[0]
        started = time.perf_counter()
        insert(rows)
        seconds += time.perf_counter() - started
        rows_in += len(rows)
    close()
    return {"seconds": seconds, "rows": rows_in, "rss_mb": _peak_rss_mb()}


def _raw_sqlite(url: str):
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as the store's connections (core/store.py)
    conn.execute("CREATE TABLE raw (event_id TEXT PRIMARY KEY, user_id, item_id, type, ts, quantity, value, query, "
                 "session_id, in_catalog, query_id)")  # fmt: skip

    def insert(rows: list[tuple]) -> None:
        conn.executemany("INSERT OR IGNORE INTO raw VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.commit()

    return insert, conn.close


def _raw_postgres(url: str):
    import psycopg

    plain, schema = _split_schema(url)
    conn = psycopg.connect(plain, autocommit=True)
    conn.execute(f"CREATE TABLE {schema}.raw (event_id text PRIMARY KEY, user_id text, item_id text, type text, "
                 "ts timestamp, quantity float8, value float8, query text, session_id text, in_catalog boolean, "
                 "query_id text)")  # fmt: skip

    def insert(rows: list[tuple]) -> None:
        with conn.transaction(), conn.cursor().copy(f"COPY {schema}.raw FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row[:9], bool(row[9]), row[10]))

    return insert, conn.close


def _split_schema(url: str) -> tuple[str, str]:
    base, _, options = url.partition("?options=-csearch_path%3D")
    return base.replace("postgresql+psycopg://", "postgresql://"), options


def _run_phase(phase: str, url: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--url", url, "--file", str(path)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def increment_file(events: Path, target: Path, rows: int) -> Path:
    """The first ``rows`` events of ``events`` as new ones: other ids, a year later (their users' newest)."""
    import pyarrow.parquet as pq

    frame = next(pq.ParquetFile(events).iter_batches(batch_size=rows)).to_pandas()
    frame["event_id"] = "N" + frame["event_id"].astype(str)
    frame["ts"] = frame["ts"] + pd.Timedelta(days=365)
    frame.to_parquet(target, index=False)
    return target


class Stores:
    """A fresh SQLite file or PostgreSQL schema per (size, backend), removed after."""

    def __init__(self, folder: Path, postgres: bool):
        self.folder = folder
        self.pg_url = _pg_start() if postgres else None

    def backends(self) -> list[str]:
        return ["sqlite", "postgresql"] if self.pg_url else ["sqlite"]

    def fresh(self, backend: str, name: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.folder / (name + '.db')}"
        import psycopg

        plain = self.pg_url.replace("postgresql+psycopg://", "postgresql://")
        schema = f"bench_{name}_{os.getpid()}"
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        return f"{self.pg_url}?options=-csearch_path%3D{schema}"

    def drop(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            return
        import psycopg

        plain, schema = _split_schema(url)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _pg_start() -> str:
    done = subprocess.run([str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def measure(
    size: int, backend: str, events: Path, increment: Path, stores: Stores, event_ids: str = "sequential"
) -> dict:
    """One row of the table: import, raw and increment at ``size`` events on ``backend``."""
    url, raw_url = stores.fresh(backend, f"import{size}"), stores.fresh(backend, f"raw{size}")
    try:
        first = _run_phase("import", url, events)
        more = _run_phase("import", url, increment)
        sync = _run_phase("sync", url, events.parent / "catalog.parquet")
        raw = _run_phase("raw", raw_url, events)
    finally:
        stores.drop(url)
        stores.drop(raw_url)
    assert first["added"] == size and more["added"] == increment_rows(size), (first, more)
    rate, raw_rate = size / first["seconds"], raw["rows"] / raw["seconds"]
    return {
        "events": size, "backend": backend, "event_ids": event_ids, "import_s": round(first["seconds"], 1),
        "events_per_s": round(rate), "import_events_per_s_by_fifth": first.get("rate_by_fifth", []),
        "raw_events_per_s": round(raw_rate), "import_vs_raw": round(rate / raw_rate, 3),
        "increment_events": more["added"], "increment_events_per_s": round(more["added"] / more["seconds"]),
        "catalog_sync_s": round(sync["seconds"], 2), "catalog_sync_unchanged_s": round(sync["unchanged_seconds"], 4),
        "peak_rss_mb": {"import": round(first["rss_mb"]), "increment": round(more["rss_mb"]),
                        "raw": round(raw["rss_mb"])},
    }  # fmt: skip


def increment_rows(size: int) -> int:
    return min(INCREMENT, max(size // 5, 1))


def summarize(rows: list[dict]) -> dict:
    """Per backend: events/s and peak RSS at the largest size against the smallest (goals >= 0.7 and flat)."""
    out = {}
    for backend in sorted({r["backend"] for r in rows}):
        mine = sorted((r for r in rows if r["backend"] == backend), key=lambda r: r["events"])
        small, large = mine[0], mine[-1]
        out[backend] = {
            "sizes": f"{small['events']:,} -> {large['events']:,}",
            "events_per_s_ratio": round(large["events_per_s"] / small["events_per_s"], 3), "goal": ">= 0.7",
            "increment_ratio": round(large["increment_events_per_s"] / small["increment_events_per_s"], 3),
            "catalog_sync_s": f"{small['catalog_sync_s']} -> {large['catalog_sync_s']} (skipped while the catalog is "
            f"unchanged: {small['catalog_sync_unchanged_s']} -> {large['catalog_sync_unchanged_s']})",
            "peak_rss_ratio": round(large["peak_rss_mb"]["import"] / small["peak_rss_mb"]["import"], 3),
        }  # fmt: skip
    return out


def plot(rows: list[dict], target: Path) -> None:
    """Events/s (import, raw, increment) and peak RSS against the event count, one line per backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4))
    for backend, colour in (("sqlite", "tab:blue"), ("postgresql", "tab:orange")):
        mine = sorted((r for r in rows if r["backend"] == backend), key=lambda r: r["events"])
        if not mine:
            continue
        x = [r["events"] for r in mine]
        speed.plot(x, [r["events_per_s"] for r in mine], "o-", color=colour, label=f"{backend} import")
        speed.plot(x, [r["raw_events_per_s"] for r in mine], "s:", color=colour, label=f"{backend} raw bulk")
        speed.plot(x, [r["increment_events_per_s"] for r in mine], "^--", color=colour,
                   label=f"{backend} +{INCREMENT // 1000}k into N")  # fmt: skip
        memory.plot(x, [r["peak_rss_mb"]["import"] for r in mine], "o-", color=colour, label=f"{backend} import")
    for ax, label in ((speed, "events/s"), (memory, "peak RSS of the import (MB)")):
        ax.set_xscale("log")
        ax.set_xlabel("events in the file (N)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    speed.set_title("Event import speed against N")
    memory.set_title("Event import memory against N")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=SIZES)
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK}")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--random-ids", action="store_true", help="UUID-shaped event ids in random order")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, help="write the PNG of the curves here")
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.url, args.file)))
        return

    from bench.synth_shop import ShopParams, generate

    sizes = [int(s) for s in (QUICK if args.quick else args.sizes).split(",")]
    rows: list[dict] = []
    event_ids = "random" if args.random_ids else "sequential"
    with tempfile.TemporaryDirectory(prefix="bench-event-scale-") as tmp:
        folder = Path(tmp)
        stores = Stores(folder, postgres=not args.no_postgres)
        for size in sizes:
            shop = folder / f"shop{size}"
            started = time.perf_counter()
            params = ShopParams(items=ITEMS, users=max(1, int(size * USERS_PER_EVENT)), events=size, days=365,
                                seed=args.seed, random_ids=args.random_ids)  # fmt: skip
            generate(params, shop)
            print(f"{size:,} events generated in {time.perf_counter() - started:.0f}s", flush=True)
            increment = increment_file(shop / "events.parquet", folder / "increment.parquet", increment_rows(size))
            for backend in stores.backends():
                row = measure(size, backend, shop / "events.parquet", increment, stores, event_ids)
                rows.append(row)
                print(
                    f"{size:,} events ({event_ids} ids), {backend}: import {row['events_per_s']:,}/s "
                    f"({row['import_s']}s), raw "
                    f"{row['raw_events_per_s']:,}/s -> {row['import_vs_raw']:.2f}x; +{row['increment_events']:,} "
                    f"into N: {row['increment_events_per_s']:,}/s; catalog sync {row['catalog_sync_s']}s (catalog "
                    f"unchanged: {row['catalog_sync_unchanged_s']}s); peak RSS MB {row['peak_rss_mb']}; import "
                    f"events/s by fifth of the file {row['import_events_per_s_by_fifth']}",
                    flush=True,
                )
            shutil.rmtree(shop)
    summary = summarize(rows)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n")
    if args.plot:
        plot(rows, args.plot)


PHASES = {"import": phase_import, "raw": phase_raw, "sync": phase_sync}

if __name__ == "__main__":
    main()
