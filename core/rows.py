"""Rows from the user's files: the one reject record, JSON-lines reading, CSV and Parquet in chunks, ``FIELD=COLUMN``
mappings, reject files.

A bad row never stops a catalog build or an event import: it becomes a :class:`Reject` naming the file, line and
field, goes to a reject file the user can fix and re-run, and the caller decides whether to go on or stop.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# What pandas' C parser says of a line with more fields than the header (on_bad_lines="warn"); its line numbers
# count the header as line 1 and one line per row, as ours do.
_SKIPPED_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


@dataclass(frozen=True)
class Reject:
    """A row that was not used, and why."""

    path: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: field '{self.field}': {self.reason}"


def parse_mapping_spec(spec: str | None, known: tuple[str, ...], what: str) -> dict[str, str]:
    """``a=col1,b=col2`` as ``{"a": "col1", "b": "col2"}``; a name outside ``known`` or a pair without ``=`` is an
    :class:`InputError` naming the part (``what`` says which mapping, e.g. "field mapping")."""
    values: dict[str, str] = {}
    for part in spec.split(",") if spec else []:
        key, sep, column = part.partition("=")
        key = key.strip()
        if not sep or key not in known or not column.strip():
            raise InputError(
                f"bad {what} '{part}': use FIELD=COLUMN with FIELD one of {', '.join(known)}", field="mapping"
            )
        values[key] = column.strip()
    return values


def jsonl_records(
    path: Path, what: str = "file", error: type[InputError] = InputError
) -> Iterator[tuple[int, dict | str]]:
    """(line, object) for each non-empty line of a JSON-lines file; a string instead of an object says why that
    line is unusable. A file that cannot be opened or is not UTF-8 raises ``error`` naming ``what``."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise error(f"cannot read {what}: {e.strerror}", path=str(path)) from None
    with handle:
        try:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as e:
                    yield number, f"not valid JSON ({e.msg})"
                    continue
                yield number, row if isinstance(row, dict) else "not a JSON object"
        except UnicodeDecodeError as e:
            raise error(f"{what} is not UTF-8 text ({e.reason})", path=str(path)) from None


def csv_frames(path: Path, chunk_rows: int | None = None) -> Iterator[tuple[pd.DataFrame, list[tuple[int, str]]]]:
    """A CSV file as frames of text (empty cells ``""``) of at most ``chunk_rows`` rows (None: one frame), each with
    a ``line`` column (the header is line 1, then one line per row), and with the lines left out of it as
    ``(line, reason)``: a line with more fields than the header is skipped and reported, and the file read on (one
    bad line must not stop an import). Read errors (OSError, pandas' ParserError) go to the caller."""
    import numpy as np
    import pandas as pd

    overlong = _leading_overlong(path)
    skip = [line - 1 for line, _ in overlong]  # pandas counts rows from 0 (the header)

    def read(chunksize: int | None = None):
        return pd.read_csv(
            path, dtype=str, keep_default_na=False, chunksize=chunksize, on_bad_lines="warn", skiprows=skip or None
        )

    def whole() -> Iterator[pd.DataFrame]:
        yield read()  # read on the first next(), where its warnings are caught

    frames = whole() if chunk_rows is None else read(chunk_rows)
    next_line = 2
    pending = {line for line, _ in overlong}  # bad lines not yet passed by the rows
    while True:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = next(frames, None)
        bad, overlong = overlong, []  # the first frame carries the lines skipped before pandas read
        bad += [
            (int(m[1]), f"{m[3]} fields where the header has {m[2]}")
            for w in caught
            for m in _SKIPPED_LINE.finditer(str(w.message))
        ]
        pending.update(line for line, _ in bad)
        bad.sort()
        if frame is None:
            if bad:
                yield pd.DataFrame({"line": pd.Series([], dtype=int)}), bad
            return
        frame = frame.reset_index(drop=True)
        candidates = np.arange(next_line, next_line + len(frame) + len(pending))
        lines = candidates[~np.isin(candidates, list(pending))][: len(frame)]
        if len(lines):
            next_line = int(lines[-1]) + 1
        pending = {line for line in pending if line >= next_line}
        frame["line"] = lines
        yield frame, bad


def parquet_batches(path: Path, batch_rows: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """A Parquet file as record batches of at most ``batch_rows`` rows (only ``columns`` when given), one row group
    decoded at a time: what the reader holds does not grow with the rows read before.

    Without pre-buffering: with pyarrow's default (``pre_buffer=True``) the reader reads column chunks through a
    cache (coalesced reads of up to 32 MiB) that keeps every range it has read until the reader is closed
    (apache/arrow#39808), so streaming a file held its compressed bytes: an event import's peak memory grew by about
    10 bytes an event read (docs/scaling.md, "Event import at scale"). Read errors (OSError, pyarrow's own) go to
    the caller."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_rows, columns=columns)


def _leading_overlong(path: Path) -> list[tuple[int, str]]:
    """The first data lines that have more fields than the header, up to the first one that does not: pandas takes
    such a first line as a sign that the file has an index column, and would shift every row by one field."""
    import csv

    out: list[tuple[int, str]] = []
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            for line, record in enumerate(reader, start=2):
                if header is None or len(record) <= len(header):
                    break
                out.append((line, f"{len(record)} fields where the header has {len(header)}"))
    except csv.Error:
        return out  # pandas reads the file and says what is wrong with it
    return out


def write_rejects(rejects: list[Reject], target: Path) -> None:
    """Write rejects as JSON lines (path, line, field, reason) for the user to fix and re-run."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as out:
        for r in rejects:
            out.write(json.dumps(asdict(r)) + "\n")
