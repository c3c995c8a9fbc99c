"""Rows from the user's files: the one reject record, JSON-lines reading, ``FIELD=COLUMN`` mappings, reject files.

A bad row never stops a catalog build or an event import: it becomes a :class:`Reject` naming the file, line and
field, goes to a reject file the user can fix and re-run, and the caller decides whether to go on or stop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import InputError


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


def write_rejects(rejects: list[Reject], target: Path) -> None:
    """Write rejects as JSON lines (path, line, field, reason) for the user to fix and re-run."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as out:
        for r in rejects:
            out.write(json.dumps(asdict(r)) + "\n")
