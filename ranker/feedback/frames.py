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
``finetune``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import String, type_coerce
from sqlalchemy.engine import Engine

from core.errors import InputError
from core.rows import Reject
from core.settings import EventsSettings, Settings
from ranker.feedback.events import to_naive_utc
from ranker.feedback.mapping import EventMapping, check_rows
from ranker.feedback.sources import event_file_format, read_chunks
from ranker.feedback.writer import STAGE_COLUMNS

log = logging.getLogger("recsearch.feedback")

#: Columns of the events frame, the contract other parts code against.
FRAME_COLUMNS = ["user_id", "item_id", "type", "ts", "quantity", "value", "in_catalog"]
_TYPES = {
    "user_id": str, "item_id": str, "type": str, "ts": "datetime64[ns]", "quantity": float, "value": float,
    "in_catalog": bool,
}  # fmt: skip
_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # the stored time text of a staged row (ranker.feedback.mapping.stamp_texts)


def events_frame(engine: Engine, *, until: datetime | None = None) -> pd.DataFrame:
    """Every stored event that names an item; ``until`` keeps events strictly before it."""
    from sqlalchemy import select

    from ranker.feedback.tables import EventRow

    t = EventRow.__table__.c
    # The time as the driver gives it (SQLite: text), parsed below: one unreadable stored time is left out, not an
    # error for every reader (training, popularity).
    columns = [type_coerce(t.ts, String).label("ts") if c == "ts" else t[c] for c in FRAME_COLUMNS]
    query = select(t.event_id, t.seq, *columns).where(t.item_id != "")
    if until is not None:
        query = query.where(t.ts < to_naive_utc(until))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=["event_id", "seq", *FRAME_COLUMNS])
    frame["ts"] = _stored_times(frame["ts"])
    if frame["ts"].isna().any():
        log.warning("%d stored events have a time that cannot be read; left out", int(frame["ts"].isna().sum()))
        frame = frame[frame["ts"].notna()]
    # Sorted here, not by ORDER BY: PostgreSQL orders text by its collation, Python (and SQLite) by code point.
    return _frame(frame)


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


def read_event_file(
    path: Path, fmt: str | None = None, mapping: EventMapping | None = None, *, chunk_rows: int | None = None
) -> FileEvents:
    """Read an event file as ``recadmin feedback import`` reads it (``fmt`` and ``mapping`` as its ``--format`` and
    ``--mapping``; ``chunk_rows`` its ``RECSEARCH_EVENTS_BATCH_SIZE``), keeping what the store would keep."""
    path = Path(path)
    fmt = event_file_format(path, fmt)
    chunk_rows = chunk_rows or EventsSettings.model_fields["batch_size"].default
    out = FileEvents(pd.DataFrame(), fmt)
    parts: list[pd.DataFrame] = []
    for chunk in read_chunks(path, fmt, mapping or EventMapping(), chunk_rows):
        rows, rejects = check_rows(chunk.frame, str(path))
        out.rows_read += chunk.rows_read
        out.skipped.update(chunk.skipped)
        out.rejected += len(rejects)
        out.first_reject = out.first_reject or (rejects[0] if rejects else None)
        if rows:
            parts.append(pd.DataFrame.from_records(rows, columns=STAGE_COLUMNS))
    staged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=STAGE_COLUMNS)
    staged["seq"] = range(len(staged))  # the file's order, as the import writes it
    # The store keeps the first row of an event id (ON CONFLICT DO NOTHING, in file order).
    unique = staged.drop_duplicates("event_id", keep="first")
    out.repeated = len(staged) - len(unique)
    unique = unique[unique["item_id"] != ""]
    frame = unique[["event_id", "seq", *FRAME_COLUMNS]].copy()
    frame["ts"] = pd.to_datetime(frame["ts"], format=_STAMP)
    out.frame = _frame(frame)
    return out


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
) -> pd.DataFrame:
    """The events frame for training, fine-tuning and evaluation: from the event file ``path`` when given (``fmt``
    and ``mapping`` as ``recadmin feedback import`` takes them), else from the store.

    ``until`` keeps events strictly before it; ``types`` keeps only those event types; ``catalog_only`` leaves out
    the events flagged as naming an item outside the catalog (a file's events are never flagged). One
    :class:`InputError` naming the file (or the store) when the input cannot be read or no event is left."""
    cutoff = _naive(until)
    if path is not None:
        parsed = EventMapping.parse(mapping) if isinstance(mapping, str) else mapping
        read = read_event_file(path, fmt, parsed, chunk_rows=settings.events.batch_size)
        frame = read.frame if cutoff is None else read.frame[read.frame["ts"] < cutoff]
    else:
        read = None
        frame = _store_events(settings, cutoff)
    if types:
        frame = frame[frame["type"].isin(list(types))]
    if catalog_only:
        frame = frame[frame["in_catalog"]]
    if frame.empty:
        what = f"no events of type {', '.join(types)}" if types else "no events"
        what += f" before {cutoff}" if cutoff is not None else ""
        if read is None:
            raise InputError(f"{what} in the store: import events first, or pass --events FILE")
        if read.rejected:
            what += f" ({read.rejected:,} of {read.rows_read:,} rows rejected; the first: {read.first_reject})"
        raise InputError(what, path=str(path))
    return frame.reset_index(drop=True)


def _store_events(settings: Settings, until: datetime | None) -> pd.DataFrame:
    from core.store import open_store

    return events_frame(open_store(settings.store), until=until)


def _naive(until: datetime | str | None) -> datetime | None:
    """A cutoff as naive UTC (the events' own time base)."""
    if until is None:
        return None
    try:
        return to_naive_utc(pd.Timestamp(until).to_pydatetime())
    except ValueError:
        raise InputError(f"not a time: {until!r}", field="until") from None


def _frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``event_id``, ``seq`` + :data:`FRAME_COLUMNS` rows -> the typed events frame in its order: by user, time,
    then the order the events were written in (a basket's lines as the file lists them)."""
    frame = frame.sort_values(["user_id", "ts", "seq", "event_id"], kind="stable")
    return frame[FRAME_COLUMNS].astype(_TYPES).reset_index(drop=True)
