"""Event files in, chunks of event-field columns out: CSV, JSONL and Parquet with a column mapping, the Online
Retail transactions, and OpenSearch User Behavior Insights (UBI) events.

Each source yields :class:`Chunk` objects of at most ``chunk_rows`` rows, so memory stays bounded whatever the file
size. A chunk holds the event-field columns (see :mod:`ranker.feedback.mapping`), the source ``line`` of each row,
and counts of rows skipped on purpose (not errors: a cancelled invoice is not a purchase). ``recadmin feedback
import`` stores what this reads; :func:`ranker.feedback.frames.events_frame_from_file` (``train``, ``evaluate`` and
``finetune`` with ``--events``) reads files through this same path.

Online Retail (``--format online-retail``, detected from the columns): the lines and fields of
:func:`core.online_retail.purchase_events`: every sale of a known customer is a ``purchase`` of the upper-cased
``StockCode`` by ``CustomerID`` at ``InvoiceDate`` (taken as UTC), with ``quantity = Quantity``, ``value = Quantity
x UnitPrice`` and the invoice as the session. Skipped and counted, not imported: cancellations (invoice starting
with ``C``; they undo a purchase, and the purchase itself stays), lines without a ``CustomerID`` (about a quarter
of the file: anonymous sales no profile can hold), and lines whose quantity is not above zero (stock adjustments).

UBI (``--format ubi``): one event document per JSONL line, as the UBI plugin stores it in ``ubi_events`` (or an
OpenSearch export with ``_id``/``_source``, whose ``_id`` becomes the event id). The user is ``user_id`` when
present, else ``client_id``; the item is ``event_attributes.object.object_id``; ``action_name`` gives the type
(see :data:`UBI_ACTIONS`, other names become custom types); ``message`` is the query of search events; ``query_id``
is kept, so the event is attributed to the answer it followed (docs/ubi.md). Events with
no object that are not searches (logins, filters, sorting) are skipped and counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core import online_retail
from core.errors import InputError
from core.rows import csv_frames, jsonl_records, parquet_batches
from ranker.feedback.mapping import FIELDS, REQUIRED, EventMapping, constant

FORMATS = ("csv", "jsonl", "parquet", "online-retail", "ubi")
ONLINE_RETAIL_COLUMNS = online_retail.EVENT_COLUMNS
UBI_ACTIONS = {
    "click": "click", "product_click": "click", "item_click": "click", "select": "click",
    "view": "view", "product_view": "view", "item_view": "view", "impression": "view",
    "add_to_cart": "add_to_cart", "purchase": "purchase", "checkout": "purchase", "buy": "purchase",
    "on_search": "search", "search": "search",
}  # fmt: skip


@dataclass
class Chunk:
    """Up to ``chunk_rows`` source rows as event-field columns, plus ``line``."""

    frame: pd.DataFrame
    rows_read: int
    skipped: Counter = field(default_factory=Counter)


def event_file_format(path: Path, fmt: str | None) -> str:
    """:func:`file_format` of a path that must be an existing file (the one error a missing file gives)."""
    if not path.exists():
        raise InputError("event file does not exist", path=str(path))
    if path.is_dir():
        raise InputError("event file path is a folder, not a file", path=str(path))
    return file_format(path, fmt)


def file_format(path: Path, fmt: str | None) -> str:
    """The format named, or the one the suffix gives (Online Retail is detected later from the columns)."""
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"unknown format '{fmt}' (use one of {', '.join(FORMATS)})", field="format")
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    suffix = "jsonl" if suffix in ("json", "ndjson") else suffix
    if suffix not in ("csv", "jsonl", "parquet"):
        raise InputError(f"unknown event file format '.{suffix}' (use .csv, .jsonl or .parquet, or --format)",
                         path=str(path))  # fmt: skip
    return suffix


def read_chunks(path: Path, fmt: str, mapping: EventMapping, chunk_rows: int) -> Iterator[Chunk]:
    """Chunks of the file; ``fmt`` from :func:`file_format` (``csv``/``parquet`` may turn out Online Retail)."""
    if fmt == "ubi":
        return _ubi_chunks(path, chunk_rows)
    if fmt == "jsonl":
        return _jsonl_chunks(path, mapping, chunk_rows)
    kind = "parquet" if fmt == "parquet" or path.suffix.lower() == ".parquet" else "csv"
    maybe_retail = fmt == "online-retail" or mapping == EventMapping()
    raw = _table_chunks(path, kind, chunk_rows, ONLINE_RETAIL_COLUMNS if maybe_retail else None)
    return _mapped(path, raw, mapping, online_retail=fmt == "online-retail")


def _table_chunks(
    path: Path, kind: str, chunk_rows: int, narrow: set[str] | None = None
) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str]]]]:
    """Raw frames with a ``line`` column, and the CSV lines that could not be split into the header's fields
    (``(line, reason)``: rejected, the file read on); CSV lines count the header, Parquet rows count from 1.

    ``narrow``: a Parquet file that has all these columns is read as only them (Online Retail: its descriptions and
    countries are most of the bytes, and no event field)."""
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            columns = [n for n in names if n in narrow] if narrow and narrow <= set(names) else None
            done = 0
            for batch in parquet_batches(path, chunk_rows, columns):
                frame = batch.to_pandas().reset_index(drop=True)
                frame["line"] = range(1 + done, 1 + done + len(frame))
                done += len(frame)
                yield frame, []
        else:
            yield from csv_frames(path, chunk_rows)
    except OSError as e:
        raise InputError(f"cannot read event file: {e.strerror or e}", path=str(path)) from None
    except (ValueError, pd.errors.ParserError) as e:
        raise InputError(f"cannot parse event file as {kind}: {str(e).splitlines()[0]}", path=str(path)) from None
    except Exception as e:  # pyarrow raises its own error classes for broken files
        if type(e).__module__.startswith("pyarrow"):
            raise InputError(f"cannot parse event file as {kind}: {str(e).splitlines()[0]}", path=str(path)) from None
        raise


def _mapped(
    path: Path, raw: Iterator[tuple[pd.DataFrame, list[tuple[int, str]]]], mapping: EventMapping, online_retail: bool
) -> Iterator[Chunk]:
    first = True
    for frame, broken in raw:
        if first:
            online_retail = online_retail or (set(frame.columns) >= ONLINE_RETAIL_COLUMNS and mapping == EventMapping())
            if online_retail and not set(frame.columns) >= ONLINE_RETAIL_COLUMNS:
                missing = ", ".join(sorted(ONLINE_RETAIL_COLUMNS - set(frame.columns)))
                raise InputError(f"not Online Retail transactions: no column {missing}", path=str(path))
            if not online_retail:
                _check_columns(path, set(frame.columns), mapping)
            first = False
        chunk = _online_retail(frame) if online_retail else _apply_mapping(frame, mapping)
        yield _with_broken(chunk, broken) if broken else chunk


def _with_broken(chunk: Chunk, broken: list[tuple[int, str]]) -> Chunk:
    """The chunk plus one ``__error__`` row per line the source could not read (rejected by the row checks)."""
    lines, reasons = zip(*broken, strict=True)
    errors = pd.DataFrame({"line": list(lines), "__error__": list(reasons)})
    frame = pd.concat([chunk.frame, errors], ignore_index=True) if len(chunk.frame) else errors
    return Chunk(frame, chunk.rows_read + len(broken), chunk.skipped)


def _check_columns(path: Path, columns: set[str], mapping: EventMapping) -> None:
    for name, source in mapping.items():
        if name in REQUIRED and constant(source) is None and source not in columns:
            raise InputError(
                f"column '{source}' for {name} not found (columns: {', '.join(sorted(columns - {'line'}))}); "
                f"map it with --mapping {name}=COLUMN",
                path=str(path), field=name,
            )  # fmt: skip


def _apply_mapping(frame: pd.DataFrame, mapping: EventMapping) -> Chunk:
    out = pd.DataFrame({"line": frame["line"]})
    for name, source in mapping.items():
        value = constant(source)
        if value is not None:
            out[name] = value
        elif source in frame:
            out[name] = frame[source]
    return Chunk(out, len(frame))


def _online_retail(frame: pd.DataFrame) -> Chunk:
    events, skipped = online_retail.purchase_events(frame)
    events.insert(0, "line", frame["line"][events.index])
    return Chunk(events.reset_index(drop=True), len(frame), skipped)


def _path(row: dict, dotted: str):
    value = row
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _jsonl_chunks(path: Path, mapping: EventMapping, chunk_rows: int) -> Iterator[Chunk]:
    specs = mapping.items()
    return _json_chunks(
        path, chunk_rows,
        lambda row: {name: constant(src) if constant(src) is not None else _path(row, src) for name, src in specs},
    )  # fmt: skip


def _ubi_event(row: dict) -> dict | None:
    source = row.get("_source") if isinstance(row.get("_source"), dict) else row
    attributes = source.get("event_attributes") if isinstance(source.get("event_attributes"), dict) else {}
    action = str(source.get("action_name") or "").strip()
    type_ = UBI_ACTIONS.get(action.lower(), action.lower())
    item = _path(attributes, "object.object_id")
    if item in (None, "") and type_ != "search":
        return None
    return {
        "event_id": row.get("_id") if source is not row else source.get("event_id"),
        "user_id": source.get("user_id") or source.get("client_id"),
        "item_id": item,
        "type": type_,
        "ts": source.get("timestamp"),
        "query": source.get("message") if type_ == "search" else None,
        "session_id": source.get("session_id") or attributes.get("session_id"),
        "query_id": source.get("query_id"),
    }


def _ubi_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    return _json_chunks(path, chunk_rows, _ubi_event, skip_reason="UBI event without an object")


def _json_chunks(path: Path, chunk_rows: int, convert, skip_reason: str = "") -> Iterator[Chunk]:
    records: list[dict] = []
    lines: list[int] = []
    skipped: Counter = Counter()
    read = 0
    for line, row in jsonl_records(path, "event file", InputError):
        read += 1
        event = {"event_id": None, "user_id": "", "type": ""} if isinstance(row, str) else convert(row)
        if isinstance(row, str):
            event["__error__"] = row
        if event is None:
            skipped[skip_reason] += 1
        else:
            records.append(event)
            lines.append(line)
        if read % chunk_rows == 0:
            yield _json_chunk(records, lines, read, skipped)
            records, lines, skipped, read = [], [], Counter(), 0
    if read:
        yield _json_chunk(records, lines, read, skipped)


def _json_chunk(records: list[dict], lines: list[int], read: int, skipped: Counter) -> Chunk:
    frame = pd.DataFrame.from_records(records, columns=[*FIELDS, "__error__"]) if records else pd.DataFrame(
        columns=[*FIELDS, "__error__"])  # fmt: skip
    frame["line"] = lines
    for name in FIELDS:  # nested values (lists, objects) are not ids or numbers: keep them as text to reject
        frame[name] = frame[name].map(lambda v: json.dumps(v) if isinstance(v, (dict, list)) else v)
    return Chunk(frame, read, skipped)
