"""The events frame: the one table of events that training, fine-tuning, evaluation and the service's statistics read.

Columns :data:`FRAME_COLUMNS` (``user_id, item_id, type, ts (datetime64[ns], naive UTC), quantity, value (float,
NaN when unknown), in_catalog (bool)``), one row per event that names an item (search events without one are left
out), sorted by (``user_id``, ``ts``, write order). Two sources give the same frame:

* the store: :func:`events_frame`;
* an event file: :func:`events_frame_from_file` reads it exactly as ``recadmin feedback import`` does (the same
  sources, :func:`ranker.feedback.sources.read_chunks`, and the same row checks,
  :func:`ranker.feedback.mapping.check_rows`), leaves out the rows the import rejects and keeps one event per event
  id, as the store does. So a file gives the frame that importing it (with ``--no-catalog-check``) and then reading
  the store gives; Online Retail transactions become events by :mod:`core.online_retail`'s rule.

:func:`load_events` picks one of the two (the file when given) for ``recadmin train``, ``evaluate`` and
``finetune``. Both read chunk by chunk into compact columns (:mod:`ranker.feedback.columns`), filters applied as
they read; training keeps them compact (categorical ids, float32 numbers), the others get the columns as strings.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import String, type_coerce
from sqlalchemy.engine import Engine

from core.errors import InputError
from core.rows import Reject
from core.settings import EventsSettings, Settings
from ranker.feedback.columns import EventColumns, EventFilter
from ranker.feedback.events import to_naive_utc
from ranker.feedback.mapping import EventMapping, check_rows
from ranker.feedback.sources import event_file_format, read_chunks
from ranker.feedback.writer import STAGE_COLUMNS

log = logging.getLogger("recsearch.feedback")

#: Columns of the events frame, the contract other parts code against.
FRAME_COLUMNS = ["user_id", "item_id", "type", "ts", "quantity", "value", "in_catalog"]
#: What a page of the store brings (:data:`ranker.feedback.columns.CHUNK_COLUMNS`).
_STORED = ["seq", *FRAME_COLUMNS]
_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # the stored time text of a staged row (ranker.feedback.mapping.stamp_texts)


def events_frame(
    engine: Engine,
    *,
    until: datetime | None = None,
    keep: EventFilter | None = None,
    compact: bool = False,
    page_rows: int = 50_000,
) -> pd.DataFrame:
    """Every stored event that names an item; ``until`` keeps events strictly before it, ``keep`` filters further
    (:class:`ranker.feedback.columns.EventFilter`); ``compact``: coded columns (:mod:`ranker.feedback.columns`).

    Read through one streamed query in pages of ``page_rows``, in event-id byte order: events of one user, time and
    write order (only events stored before the write order existed share one) keep the event ids' order."""
    from sqlalchemy import select

    from ranker.feedback.tables import EventRow

    t = EventRow.__table__.c
    keep = keep or EventFilter()
    if until is not None:
        keep = replace(keep, until=until if keep.until is None else min(until, keep.until))
    # The time as the driver gives it (SQLite: text), parsed below: one unreadable stored time is left out, not an
    # error for every reader (training, popularity).
    columns = [type_coerce(t.ts, String).label("ts") if c == "ts" else t[c] for c in _STORED]
    # PostgreSQL compares text by its collation; "C" is byte order, Python's (and SQLite's) order of the ids.
    order = t.event_id.collate("C") if engine.dialect.name == "postgresql" else t.event_id
    query = select(*columns).where(t.item_id != "").order_by(order)
    if keep.until is not None:
        query = query.where(t.ts < to_naive_utc(keep.until))
    gathered = EventColumns(keep, compact=compact)
    unreadable = 0
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=page_rows).execute(query)
        for rows in result.partitions():
            page = pd.DataFrame(rows, columns=_STORED)
            page["ts"] = _stored_times(page["ts"])
            unreadable += int(page["ts"].isna().sum())
            gathered.add(page[page["ts"].notna()])
    if unreadable:
        log.warning("%d stored events have a time that cannot be read; left out", unreadable)
    return gathered.frame(FRAME_COLUMNS)


def _stored_times(values: pd.Series) -> pd.Series:
    """Stored times (SQLite: text, PostgreSQL: datetimes) as ``datetime64[ns]``; NaT for a text that is no time
    or a time outside what nanoseconds can hold (before 1677, after 2262)."""
    if values.empty:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    text = values if isinstance(values.iloc[0], str) else values.map(lambda v: v.isoformat(sep=" "))
    ts = pd.to_datetime(text, errors="coerce", format="ISO8601")
    return ts.where((ts >= pd.Timestamp.min) & (ts <= pd.Timestamp.max)).astype("datetime64[ns]")


@dataclass
class FileEvents:
    """An event file as read by :func:`read_event_file`: the events frame and what was left out of it."""

    frame: pd.DataFrame
    format: str
    rows_read: int = 0
    rejected: int = 0
    #: The first rejected row, for the error when nothing is left.
    first_reject: Reject | None = None
    #: Rows the source skips on purpose (cancellations, anonymous lines, UBI events without an object).
    skipped: Counter = field(default_factory=Counter)
    #: Rows whose event id an earlier row already had (the store keeps one).
    repeated: int = 0
    #: Rows naming an item the filter's ``items`` leave out.
    outside_items: int = 0


def read_event_file(
    path: Path, fmt: str | None = None, mapping: EventMapping | None = None, *, chunk_rows: int | None = None,
    keep: EventFilter | None = None, compact: bool = False,
) -> FileEvents:  # fmt: skip
    """Read an event file as ``recadmin feedback import`` reads it (``fmt`` and ``mapping`` as its ``--format`` and
    ``--mapping``; ``chunk_rows`` its ``RECSEARCH_EVENTS_BATCH_SIZE``), keeping what the store would keep, and of
    that what ``keep`` keeps; ``compact``: coded columns (:mod:`ranker.feedback.columns`).

    One chunk at a time: its checked rows become compact columns before the next is read, and only a 16-byte hash
    of each event id is kept (the store keeps the first row of an id, ON CONFLICT DO NOTHING in file order)."""
    path = Path(path)
    fmt = event_file_format(path, fmt)
    chunk_rows = chunk_rows or EventsSettings.model_fields["batch_size"].default
    out = FileEvents(pd.DataFrame(), fmt)
    gathered = EventColumns(keep, compact=compact, dedup=True)
    for chunk in read_chunks(path, fmt, mapping or EventMapping(), chunk_rows):
        rows, rejects = check_rows(chunk.frame, str(path))
        out.rows_read += chunk.rows_read
        out.skipped.update(chunk.skipped)
        out.rejected += len(rejects)
        out.first_reject = out.first_reject or (rejects[0] if rejects else None)
        if rows:
            staged = pd.DataFrame.from_records(rows, columns=STAGE_COLUMNS)
            staged["seq"] = range(gathered.rows, gathered.rows + len(staged))  # the file's order, as imported
            staged["ts"] = _stamps(staged["ts"])
            del rows
            gathered.add(staged)
    out.frame = gathered.frame(FRAME_COLUMNS)
    out.repeated = gathered.repeated
    out.outside_items = gathered.outside_items
    return out


def _stamps(texts: pd.Series) -> np.ndarray:
    """Staged time texts as ``datetime64[ns]``, parsed once per distinct text (a basket's lines share theirs)."""
    codes, distinct = pd.factorize(texts)
    return pd.to_datetime(pd.Series(distinct), format=_STAMP).to_numpy().astype("datetime64[ns]")[codes]


def events_frame_from_file(path: Path, fmt: str | None = None, mapping: EventMapping | None = None) -> pd.DataFrame:
    """The events frame of an event file: what :func:`events_frame` gives after importing the file into an empty
    store without the catalog check (see :func:`read_event_file`)."""
    return read_event_file(path, fmt, mapping).frame


def load_events(
    settings: Settings,
    path: Path | None = None,
    *,
    fmt: str | None = None,
    mapping: EventMapping | str | None = None,
    until: datetime | str | None = None,
    types: Sequence[str] | None = None,
    catalog_only: bool = False,
    items: Sequence[str] | None = None,
    max_events: int | None = None,
    compact: bool = False,
) -> pd.DataFrame:
    """The events frame for training, fine-tuning and evaluation: from the event file ``path`` when given (``fmt``
    and ``mapping`` as ``recadmin feedback import`` takes them), else from the store.

    ``until`` keeps events strictly before it; ``types`` keeps only those event types; ``catalog_only`` leaves out
    the events flagged as naming an item outside the catalog (a file's events are never flagged); ``items`` keeps
    only events naming one of these ids (training: its item table); ``max_events`` only the newest that many
    (``RECSEARCH_RANKER_MAX_EVENTS``); ``compact``: categorical ids and types, float32 numbers
    (:mod:`ranker.feedback.columns`). All of it applies while reading, chunk by chunk. One :class:`InputError`
    naming the file (or the store) when the input cannot be read or no event is left."""
    cutoff = _naive(until)
    keep = EventFilter(until=cutoff, types=types or None, catalog_only=catalog_only, items=items,
                       max_events=max_events)  # fmt: skip
    if path is not None:
        parsed = EventMapping.parse(mapping) if isinstance(mapping, str) else mapping
        read = read_event_file(path, fmt, parsed, chunk_rows=settings.events.batch_size, keep=keep, compact=compact)
        frame = read.frame
    else:
        read = None
        frame = _store_events(settings, keep, compact)
    if frame.empty:
        what = f"no events of type {', '.join(types)}" if types else "no events"
        what += f" before {cutoff}" if cutoff is not None else ""
        what += " that name an item of the index (build the index first)" if items is not None else ""
        if read is None:
            raise InputError(f"{what} in the store: import events first, or pass --events FILE")
        if read.rejected:
            what += f" ({read.rejected:,} of {read.rows_read:,} rows rejected; the first: {read.first_reject})"
        raise InputError(what, path=str(path))
    return frame


def require_events(settings: Settings, path: Path | None = None, fmt: str | None = None) -> None:
    """The error :func:`load_events` would give for a missing event file or an empty store, before anything else is
    loaded (training reads the item table first, to keep only its items' events)."""
    if path is not None:
        event_file_format(Path(path), fmt)
        return
    from sqlalchemy import select

    from core.store import open_store
    from ranker.feedback.tables import EventRow

    t = EventRow.__table__.c
    with open_store(settings.store).connect() as conn:
        if conn.execute(select(t.event_id).where(t.item_id != "").limit(1)).first() is None:
            raise InputError("no events in the store: import events first, or pass --events FILE")


def _store_events(settings: Settings, keep: EventFilter, compact: bool) -> pd.DataFrame:
    from core.store import open_store

    return events_frame(open_store(settings.store), keep=keep, compact=compact)


def _naive(until: datetime | str | None) -> datetime | None:
    """A cutoff as naive UTC (the events' own time base)."""
    if until is None:
        return None
    try:
        return to_naive_utc(pd.Timestamp(until).to_pydatetime())
    except ValueError:
        raise InputError(f"not a time: {until!r}", field="until") from None
