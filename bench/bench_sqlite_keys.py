"""Why SQLite's event import bends with random event ids: the key's B-tree, measured apart from the product.

    PYTHONPATH=. .venv/bin/python bench/bench_sqlite_keys.py [--events 5000000] [--batch 50000] [--json PATH]

Inserts ``--events`` rows (UUID-shaped ids in random order, timestamps in order, as a shop's event file with random
ids is) into a bare SQLite table in batches of ``--batch``, one transaction each, with ``ON CONFLICT DO NOTHING``
as the import's conflict check, with the import's own pragmas (core.store.SQLITE_PRAGMAS and
ranker.feedback.writer.SQLITE_BULK_PRAGMAS: WAL, synchronous FULL, a 64 MB page cache, a checkpoint every 80 MB).
Variants, one after the other in the same run:

    id            the events table's key today: a unique index on the event id (random inserts)
    id-cache-1g   the same with a 1 GB page cache (is it the reads?)
    id-mmap       the same with the file memory-mapped (8 GB mmap_size)
    id-sorted     the same with each batch sorted by id before the insert (fewer page visits per batch?)
    ts-id         a unique index on (ts, event_id) instead: new rows land at the end of the index

Reported: rows/s per fifth of the rows and the last fifth against the first (the import's goal is >= 0.7 from 1M to
20M events). The reading (docs/scaling.md, "Event import at scale"): only the time-clustered key stays flat; cache,
mmap and sorting do not help, because each commit writes every index page the batch touched, and random ids touch
a page per row once the index outgrows a batch.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.store import SQLITE_PRAGMAS  # noqa: E402
from ranker.feedback.writer import SQLITE_BULK_PRAGMAS  # noqa: E402

VARIANTS = {
    "id": {"key": "event_id", "pragmas": []},
    "id-cache-1g": {"key": "event_id", "pragmas": ["cache_size=-1048576"]},
    "id-mmap": {"key": "event_id", "pragmas": ["mmap_size=8000000000"]},
    "id-sorted": {"key": "event_id", "pragmas": [], "sort": True},
    "ts-id": {"key": "ts, event_id", "pragmas": []},
}
#: The import's own connection settings: every SQLite connection's, then the bulk import's.
IMPORT_PRAGMAS = [*SQLITE_PRAGMAS, *SQLITE_BULK_PRAGMAS]


def run(name: str, events: int, batch: int, folder: Path, seed: int) -> dict:
    """Insert ``events`` rows with variant ``name``; rows/s per fifth."""
    spec = VARIANTS[name]
    conn = sqlite3.connect(folder / f"{name}.db", isolation_level=None)
    for pragma in IMPORT_PRAGMAS + spec["pragmas"]:
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("CREATE TABLE events (event_id TEXT NOT NULL, user_id TEXT NOT NULL, ts TEXT NOT NULL)")
    conn.execute(f"CREATE UNIQUE INDEX events_key ON events ({spec['key']})")
    rng = random.Random(seed)
    fifth = max(1, events // batch // 5)
    rates, started = [], time.perf_counter()
    last = started
    for number in range(events // batch):
        first = number * batch
        rows = [
            (str(uuid.UUID(int=rng.getrandbits(128))), f"U{rng.randrange(events // 40 + 1)}", f"{first + i:015d}")
            for i in range(batch)
        ]
        if spec.get("sort"):
            rows.sort()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows)
        conn.execute("COMMIT")
        if (number + 1) % fifth == 0:
            now = time.perf_counter()
            rates.append(round(fifth * batch / (now - last)))
            last = now
    conn.close()
    total = events // batch * batch
    return {
        "variant": name, "rows": total, "rows_per_s": round(total / (time.perf_counter() - started)),
        "by_fifth": rates, "last_vs_first": round(rates[-1] / rates[0], 2) if rates else None,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name in args.variants.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-sqlite-keys-") as tmp:
            row = run(name, args.events, args.batch, Path(tmp), args.seed)
        rows.append(row)
        fifths = " ".join(f"{r / 1000:.0f}k" for r in row["by_fifth"])
        print(f"{name:12} {row['rows_per_s']:>8,} rows/s  by fifth {fifths}  last/first {row['last_vs_first']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"events": args.events, "batch": args.batch, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
