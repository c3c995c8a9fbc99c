"""Feedback import throughput, its memory, and profile read latency; each against a baseline from the same run.

    import (SQLite)      `import_events` of the whole Online Retail file (~400k purchases) into a fresh SQLite store:
                         read, check, content ids, catalog flags, events + profiles, batches committed
      baseline           plain sqlite3 `executemany` of the SAME prepared rows into a table with only the primary
                         key (no checks, no profiles, no secondary indexes): the floor a Python import can reach
    memory               peak RSS of a process that runs the import, against one that only does
                         `pandas.read_parquet` of the whole file (what loading everything at once costs)
    profile read         `ProfileStore.history` p50/p99 for a user with 500 stored events (profile of N=100),
      baseline           the same 100 rows by a raw sqlite3 query on an open connection
    import (PostgreSQL)  the same import into the local PostgreSQL (scripts/postgres start; COPY + set-based SQL)
      baseline           psycopg COPY of the same prepared rows into an unindexed table

    .venv/bin/python bench/bench_feedback.py [--quick] [--json PATH] [--no-postgres]

--quick uses the first 100k lines of the file (a minute on 2 cores). Data: Chen, D. (2015). Online Retail
[Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5BW33 (CC BY 4.0).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)

sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"

from core.settings import EventsSettings, Settings, StoreSettings  # noqa: E402
from core.store import open_store  # noqa: E402

# VmHWM, not ru_maxrss: a forked child inherits its parent's ru_maxrss (here: the bench holding 400k rows).
PEAK_RSS = (
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]; "
    "print('PEAK_RSS_MB', int(hwm.split()[1]) / 1024)"
)


def prepared_rows(path: Path) -> list[tuple]:
    """The staged rows the import writes (for the baselines): same ids, same values."""
    from ranker.feedback.mapping import EventMapping, check_chunk
    from ranker.feedback.sources import read_chunks

    rows: list[tuple] = []
    for chunk in read_chunks(path, "parquet", EventMapping(), 50_000):
        rows.extend(check_chunk(chunk.frame, str(path))[0])
    return rows


def run_import(url: str, path: Path, state: Path) -> tuple[float, int, int]:
    from ranker.feedback.importer import import_events

    settings = Settings(store=StoreSettings(url=url), state_dir=state)
    r = import_events(open_store(settings.store), settings, path)
    return r.seconds, r.events_added, r.already_stored


def sqlite_baseline(rows: list[tuple], db: Path) -> float:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE e (event_id TEXT PRIMARY KEY, user_id, item_id, type, ts, quantity, value, query, "
                 "session_id, in_catalog)")  # fmt: skip
    started = time.perf_counter()
    for start in range(0, len(rows), 50_000):
        conn.executemany("INSERT OR IGNORE INTO e VALUES (?,?,?,?,?,?,?,?,?,?)", rows[start : start + 50_000])
        conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def peak_rss(code: str) -> float:
    done = subprocess.run([sys.executable, "-c", code + "\n" + PEAK_RSS], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)  # fmt: skip
    return float(done.stdout.split("PEAK_RSS_MB")[-1])


def profile_reads(tmp: Path, reads: int) -> dict:
    from ranker.feedback.events import EventIn
    from ranker.feedback.profiles import ProfileStore

    url = f"sqlite:///{tmp / 'profile.db'}"
    settings = Settings(store=StoreSettings(url=url), events=EventsSettings())
    store = ProfileStore(open_store(settings.store), settings)
    t0 = datetime(2011, 1, 1)
    kinds = ["view", "click", "add_to_cart", "purchase"]
    for user in range(200):  # other users, so the index is not trivially small
        store.ingest([EventIn(user_id=f"x{user}", item_id=f"I{k}", type=kinds[k % 4], ts=t0 + timedelta(minutes=k))
                      for k in range(50)])  # fmt: skip
    store.ingest([EventIn(user_id="heavy", item_id=f"I{k % 900}", type=kinds[k % 4], ts=t0 + timedelta(minutes=k))
                  for k in range(500)])  # fmt: skip
    assert store.event_count("heavy") == 500
    n = settings.events.history_length
    ours = []
    for _ in range(reads):
        started = time.perf_counter()
        history = store.history("heavy")
        ours.append(time.perf_counter() - started)
    assert len(history) == n
    conn = sqlite3.connect(tmp / "profile.db")
    raw = []
    for _ in range(reads):
        started = time.perf_counter()
        rows = conn.execute("SELECT item_id, type, ts FROM profile_entries WHERE user_id = ? "
                            "ORDER BY ts DESC, event_id DESC LIMIT ?", ("heavy", n)).fetchall()  # fmt: skip
        raw.append(time.perf_counter() - started)
    assert len(rows) == n
    return {"ours_ms": _pct(ours), "raw_sqlite_ms": _pct(raw), "history_length": n, "user_events": 500}


def _pct(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered) * 1000, 3),
            "p99": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3)}  # fmt: skip


def postgres(path: Path, rows: list[tuple], tmp: Path) -> dict:
    import psycopg

    url = subprocess.run([str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]  # fmt: skip
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_{os.getpid()}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        seconds, added, _ = run_import(f"{url}?options=-csearch_path%3D{schema}", path, tmp / "state-pg")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE {schema}.raw (event_id text, user_id text, item_id text, type text, ts timestamp, "
                "quantity float8, value float8, query text, session_id text, in_catalog boolean)"
            )
            started = time.perf_counter()
            with conn.transaction(), conn.cursor().copy(f"COPY {schema}.raw FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row[:9] + (bool(row[9]),))
            copy_s = time.perf_counter() - started
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return {"events": added, "seconds": round(seconds, 2), "events_per_s": round(added / seconds),
            "baseline_copy_events_per_s": round(len(rows) / copy_s),
            "ratio_vs_copy": round((added / seconds) / (len(rows) / copy_s), 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="first 100k lines of the file only")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL import")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-feedback-") as tmp_name:
        tmp = Path(tmp_name)
        path = DATA
        if args.quick:
            import pyarrow.parquet as pq

            path = tmp / "retail-100k.parquet"
            pq.write_table(pq.read_table(DATA).slice(0, 100_000), path)
        rows = prepared_rows(path)
        seconds, added, _ = run_import(f"sqlite:///{tmp / 'import.db'}", path, tmp / "state")
        base_s = sqlite_baseline(rows, tmp / "baseline.db")
        ours_rate, base_rate = added / seconds, len(rows) / base_s
        results: dict = {
            "file": str(path), "source_rows": None, "sqlite_import": {
                "events": added, "seconds": round(seconds, 2), "events_per_s": round(ours_rate),
                "goal_events_per_s": 50_000, "baseline_executemany_events_per_s": round(base_rate),
                "ratio_vs_executemany": round(ours_rate / base_rate, 3)},
        }  # fmt: skip
        code = (f"from bench.bench_feedback import run_import; from pathlib import Path; "
                f"run_import('sqlite:///{tmp / 'mem.db'}', Path('{path}'), Path('{tmp / 'state-mem'}'))")  # fmt: skip
        idle_mb = peak_rss("import bench.bench_feedback, ranker.feedback.importer, pyarrow.parquet")
        ours_mb = peak_rss(code)
        base_mb = peak_rss(
            f"import bench.bench_feedback, ranker.feedback.importer; import pandas as pd; pd.read_parquet('{path}')"
        )
        results["memory"] = {
            "modules_only_peak_rss_mb": round(idle_mb),
            "import_peak_rss_mb": round(ours_mb),
            "read_whole_file_peak_rss_mb": round(base_mb),
            "ratio": round(ours_mb / base_mb, 3),
        }
        results["profile_read"] = profile_reads(tmp, 300 if args.quick else 2000)
        if not args.no_postgres:
            results["postgres_import"] = postgres(path, rows, tmp)
    import pyarrow.parquet as pq

    results["source_rows"] = pq.ParquetFile(DATA).metadata.num_rows if not args.quick else 100_000
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
