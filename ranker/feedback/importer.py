"""`recadmin feedback import`: a whole event file into the store, batch by batch.

Each batch (``RECSEARCH_EVENTS_BATCH_SIZE`` source rows) is checked, flagged against the catalog, written with its
profile updates and its progress row in ONE transaction (:func:`ranker.feedback.writer.write_batch`), then committed.
So an import killed half-way keeps every committed batch, and running it again stores only what is missing
(event ids are the idempotency key); importing the same file twice adds nothing.

A first import into an empty store leaves the ``events`` indexes that the write path never reads (by user, by item)
to the end and builds each once by sorting (:func:`ranker.feedback.tables.defer_indexes`); an import killed before
that gets them from the next import or :class:`ranker.feedback.profiles.ProfileStore`.

Bad rows never stop an import: each is reported with file, line, field and reason, and written to the reject file
``<state_dir>/rejects/<file stem>.events-rejects.jsonl`` (rewritten by every run of that file).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from core.paths import rejects_file
from core.progress import ProgressFn, prefetched
from core.rows import Reject
from core.settings import Settings
from ranker.feedback.catalog_sync import CatalogIds, CatalogSync, mark_unsynced, sync_catalog
from ranker.feedback.mapping import EventMapping, check_rows
from ranker.feedback.sources import Chunk, event_file_format, read_chunks
from ranker.feedback.tables import EventImport, defer_indexes, ensure_indexes
from ranker.feedback.writer import bulk_connection, write_batch


@dataclass
class ImportResult:
    """What one import did."""

    path: str
    format: str
    rows_read: int = 0
    events_added: int = 0
    already_stored: int = 0
    rejected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    not_in_catalog: int = 0
    batches: int = 0
    seconds: float = 0.0
    rejects_file: Path | None = None
    first_rejects: list[Reject] = field(default_factory=list)
    resumed: bool = False
    catalog_sync: CatalogSync | None = None

    @property
    def events_per_second(self) -> float:
        return (self.events_added + self.already_stored) / self.seconds if self.seconds else 0.0


def fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes: the same content is the same import, whatever its name."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_rows(path: Path, fmt: str) -> int:
    """Source rows, for the progress bar (Parquet from its metadata, text files by counting lines)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - (1 if fmt in ("csv", "online-retail") else 0), 0)


def import_events(
    engine: Engine,
    settings: Settings,
    path: Path,
    *,
    fmt: str | None = None,
    mapping: EventMapping | None = None,
    catalog: CatalogIds | None = None,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import ``path`` (CSV, JSONL, Parquet, Online Retail or UBI) into the store behind ``engine`` (from
    :func:`core.store.open_store`).

    ``catalog``: the item ids of the live catalog (events naming other items are stored and flagged); ``None``
    skips the check (every item counts as in the catalog until the next sync: ``recadmin feedback sync-catalog``, or
    the next import with a catalog, which no longer skips its sync)."""
    fmt = event_file_format(path, fmt)
    mapping = mapping or EventMapping()
    events = settings.events
    started = time.perf_counter()
    result = ImportResult(str(path), fmt)
    if catalog is not None:
        result.catalog_sync = sync_catalog(engine, catalog, events.history_length)
    else:
        with engine.begin() as conn:
            mark_unsynced(conn)  # before any event: the next import with a catalog syncs, even if this one dies
    total = count_rows(path, fmt)
    run_id, result.resumed = _start_run(engine, path, fmt)
    target = rejects_file(settings, path, "events")
    target.parent.mkdir(parents=True, exist_ok=True)
    skipped: Counter = Counter()
    with engine.begin() as conn:
        deferred = defer_indexes(conn)
    try:
        _import_batches(engine, settings, path, fmt, mapping, catalog, run_id, target, result, skipped,
                        progress, total)  # fmt: skip
    except Exception:
        _finish_run(engine, run_id, "failed")  # a clear error, not an unfinished import to "resume"
        raise
    finally:
        if deferred:
            build_deferred_indexes(engine)
    _finish_run(engine, run_id, "done")
    result.skipped = {k: v for k, v in skipped.items() if v}
    result.seconds = time.perf_counter() - started
    if result.rejected:
        result.rejects_file = target
    else:
        target.unlink(missing_ok=True)
    return result


def build_deferred_indexes(engine: Engine) -> None:
    """Build the ``events`` indexes a first import left to the end, each by one sort.

    On SQLite the sorts spill to a temporary file here: with the store's ``temp_store=MEMORY`` (the staging table's
    setting) a sort of N keys held them all in RAM, so an import's peak RSS grew with the file (433 MB at 1M events,
    690 MB at 5M; bench/bench_event_scale.py). The connection is taken out of the pool, so the setting stays here."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.detach()
            conn.exec_driver_sql("PRAGMA temp_store=FILE")
            conn.commit()
        with conn.begin():
            ensure_indexes(conn)


def _import_batches(
    engine: Engine, settings: Settings, path: Path, fmt: str, mapping: EventMapping, catalog: CatalogIds | None,
    run_id: int, rejects_file: Path, result: ImportResult, skipped: Counter, progress: ProgressFn | None, total: int,
) -> None:  # fmt: skip
    """The batch loop of :func:`import_events`: check, write, commit, report progress."""
    events = settings.events
    chunks = read_chunks(path, fmt, mapping, events.batch_size)
    checked = ((chunk, *_check(chunk, str(path), catalog)) for chunk in chunks)
    # The next batch is read and checked in a thread while this one is written (SQLite and psycopg release the GIL).
    with (
        rejects_file.open("w", encoding="utf-8") as rejects_out,
        engine.connect() as conn,
        prefetched(checked, depth=1) as ahead,
    ):
        bulk_connection(conn)  # the import's own connection: its bulk settings stay off the pool
        for chunk, rows, rejects, outside in ahead:
            result.not_in_catalog += outside
            for reject in rejects:
                rejects_out.write(json.dumps(asdict(reject)) + "\n")
            rejects_out.flush()
            with conn.begin():
                done = write_batch(conn, rows, events.history_length)
                result.rows_read += chunk.rows_read
                result.events_added += done.added
                result.already_stored += len(rows) - done.added
                result.rejected += len(rejects)
                conn.execute(
                    update(EventImport.__table__).where(EventImport.__table__.c.id == run_id).values(
                        rows_read=result.rows_read, events_added=result.events_added, rejected=result.rejected)
                )  # fmt: skip
            skipped.update(chunk.skipped)
            result.batches += 1
            if len(result.first_rejects) < 5:
                result.first_rejects.extend(rejects[: 5 - len(result.first_rejects)])
            if progress:
                progress(result.rows_read, max(total, result.rows_read))


def _check(chunk: Chunk, path: str, catalog: CatalogIds | None) -> tuple[list[tuple], list[Reject], int]:
    """Staged rows (flagged against the catalog), rejects, and how many rows name items outside the catalog."""
    rows, rejects = check_rows(chunk.frame, path)
    if catalog is None or not rows:
        return rows, rejects, 0
    flagged, outside = _flag(rows, catalog)
    return flagged, rejects, outside


def _flag(rows: list[tuple], catalog: CatalogIds) -> tuple[list[tuple], int]:
    """The rows with ``in_catalog`` cleared where the item is not in the catalog (asked about this batch's distinct
    items only); an event without an item (a search) counts as inside."""
    named = {r[2] for r in rows if r[2]}
    known = catalog.known(named) if named else set()
    outside = [pos for pos, r in enumerate(rows) if r[2] and r[2] not in known]
    for pos in outside:  # only the few rows outside the catalog are rebuilt
        rows[pos] = (*rows[pos][:9], 0, *rows[pos][10:])
    return rows, len(outside)


def _start_run(engine: Engine, path: Path, fmt: str) -> tuple[int, bool]:
    """A new progress row; True when an earlier import of the same content did not finish (a re-run)."""
    digest = fingerprint(path)
    t = EventImport.__table__
    running = (t.c.fingerprint == digest) & (t.c.status == "running")
    with engine.begin() as conn:
        unfinished = conn.execute(select(t.c.id).where(running)).first() is not None
        if unfinished:
            conn.execute(update(t).where(running).values(status="interrupted"))
        run_id = conn.execute(
            t.insert().values(path=str(path), fingerprint=digest, format=fmt, started_at=_now(), status="running")
        ).inserted_primary_key[0]
    return int(run_id), unfinished


def _finish_run(engine: Engine, run_id: int, status: str) -> None:
    t = EventImport.__table__
    with engine.begin() as conn:
        conn.execute(update(t).where(t.c.id == run_id).values(status=status, finished_at=_now()))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
