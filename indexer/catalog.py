"""Catalog input: plain items files (CSV, JSONL, Parquet) with a field mapping, and the Online Retail adapter
that turns transaction lines into one item per StockCode.

An item may be marked not recommendable (``recommendable``: a column of the items file, or the Online Retail
adapter's rule for postage, fees and the like, :func:`core.online_retail.is_product_code`): it is indexed and
searchable, but nothing that recommends returns it.

Bad rows never stop a build: each becomes a :class:`Reject` naming the file, line and field, and the caller
decides whether to go on (the default) or stop (``strict``).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import CatalogError
from core.online_retail import CATALOG_COLUMNS as ONLINE_RETAIL_COLUMNS
from core.rows import Reject, csv_frames, jsonl_records, parquet_batches, parse_mapping_spec

FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class Item:
    """One catalog item, as indexed."""

    id: str
    title: str
    description: str = ""
    category: str = ""
    price: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    #: False for what is sold but never recommended (postage, fees, samples): searchable, left out of every
    #: recommendation (/v1/recommend, /v1/similar, popularity, the evaluation) and of training targets.
    recommendable: bool = True
    #: The item's own vector from the catalog's vector column (``--vector-field``), float32; None: embed the text.
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    def text(self) -> str:
        """The text that is embedded and searched when no enrichment exists."""
        parts = [self.title, self.description if self.description != self.title else "", self.category]
        return ". ".join(p for p in parts if p)

    def content_hash(self) -> str:
        """A stable hash of the item's content: a changed item gets a new hash (the enrichment cache key; the
        ``recommendable`` flag is no content: changing it keeps the enrichment, the document's ``doc_hash`` changes)."""
        payload = json.dumps(
            [self.id, self.title, self.description, self.category, self.price, self.attributes], sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class FieldMapping:
    """Which column of the source holds which item field."""

    id: str = "id"
    title: str = "title"
    description: str = "description"
    category: str = "category"
    price: str = "price"
    #: true/false, 1/0 or yes/no (any case); a missing column or an empty value is true.
    recommendable: str = "recommendable"

    @classmethod
    def parse(cls, spec: str | None) -> FieldMapping:
        """Parse ``id=StockCode,title=Name`` into a mapping (unnamed fields keep their defaults)."""
        return cls(**parse_mapping_spec(spec, tuple(cls.__dataclass_fields__), "field mapping"))


@dataclass(frozen=True)
class VectorColumn:
    """The catalog column holding the items' own vectors, and what their dimension must be (None: the first
    row's, which ``of`` then names). ``required``: an item without a vector stops the read (no model to embed it)."""

    name: str
    dimension: int | None = None
    of: str = ""
    required: bool = True


@dataclass
class CatalogRead:
    """Items read from a file, and the rows that were rejected."""

    items: list[Item]
    rejects: list[Reject]
    source: str

    @property
    def dimension(self) -> int | None:
        """The vectors' dimension (the first item with a vector), None when no item has one."""
        return next((int(it.vector.size) for it in self.items if it.vector is not None), None)


def detect_format(path: Path) -> str:
    """The file format from its suffix."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("json", "ndjson"):
        suffix = "jsonl"
    if suffix not in FORMATS:
        raise CatalogError(f"unknown catalog format '.{suffix}' (use .csv, .jsonl or .parquet)", path=str(path))
    return suffix


def read_catalog(
    path: Path, mapping: FieldMapping | None = None, fmt: str | None = None, vectors: VectorColumn | None = None
) -> CatalogRead:
    """Read a catalog file: an items file, or Online Retail transactions (detected by their columns).

    ``vectors``: read each item's vector from that column; a missing, malformed, non-finite or zero vector, or one
    of another dimension, is a :class:`CatalogError` naming the line and column (not a reject: a build with it
    would put items in the wrong space)."""
    rejects: list[Reject] = []
    items = list(iter_catalog(path, rejects, mapping, fmt, vectors))
    return CatalogRead(items, rejects, str(path))


def iter_catalog(
    path: Path,
    rejects: list[Reject],
    mapping: FieldMapping | None = None,
    fmt: str | None = None,
    vectors: VectorColumn | None = None,
    chunk_rows: int | None = None,
) -> Iterator[Item]:
    """The items of a catalog file one at a time, as :func:`read_catalog` reads them (the same checks, the same
    rejects, appended to ``rejects`` as they are met). ``chunk_rows``: CSV and Parquet are read that many rows at a
    time (None: whole), so memory holds one chunk, not the file; Online Retail transactions are aggregated whole."""
    if not path.exists():
        raise CatalogError("catalog file does not exist", path=str(path))
    if path.is_dir():
        raise CatalogError("catalog path is a folder, not a file", path=str(path))
    fmt = fmt or detect_format(path)
    rows = _read_rows(path, fmt, chunk_rows)
    head: list[tuple[int, dict]] = []  # up to the first row that could be read (its columns say what file this is)
    for line, row in rows:
        head.append((line, row))
        if "__error__" not in row:
            break
    if not head:
        raise CatalogError("catalog file has no rows", path=str(path))
    row = head[-1][1]
    if "__error__" not in row and set(row) >= ONLINE_RETAIL_COLUMNS:
        from indexer.transactions import items_from_transactions

        if vectors is not None:
            raise CatalogError("Online Retail transactions carry no vector column", path=str(path), field=vectors.name)
        read = items_from_transactions(path, _chain(head, rows))
        rejects.extend(read.rejects)
        yield from read.items
        return
    yield from _items_from_rows(path, _chain(head, rows), mapping or FieldMapping(), rejects, vectors)


def _chain(head: list[tuple[int, dict]], rest: Iterator[tuple[int, dict]]) -> Iterator[tuple[int, dict]]:
    yield from head
    yield from rest


def _read_rows(path: Path, fmt: str, chunk_rows: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs; CSV lines count the header, Parquet rows count from 1."""
    if fmt == "jsonl":
        return _jsonl_rows(path)
    return _parsed(path, fmt, _csv_rows(path, chunk_rows) if fmt == "csv" else _parquet_rows(path, chunk_rows))


def _parsed(path: Path, fmt: str, rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``rows`` with the reader's errors as one :class:`CatalogError` (they may come at any chunk)."""
    try:
        yield from rows
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else e
        raise CatalogError(f"cannot read catalog: {reason}", path=str(path)) from None
    except CatalogError:
        raise
    except Exception as e:  # pandas/pyarrow raise many parser errors
        raise CatalogError(f"cannot parse catalog as {fmt}: {str(e).splitlines()[0]}", path=str(path)) from None


def _csv_rows(path: Path, chunk_rows: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
    for frame, broken in csv_frames(path, chunk_rows):
        good = zip(frame.pop("line").tolist(), frame.to_dict(orient="records"), strict=True)
        # A line with more fields than the header is a reject of its own; the rest of the file is read.
        yield from heapq.merge(good, ((line, {"__error__": reason}) for line, reason in broken), key=lambda r: r[0])


def _parquet_rows(path: Path, chunk_rows: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
    if chunk_rows is None:
        frames: Iterator[pd.DataFrame] = iter([pd.read_parquet(path)])
    else:  # without pre-buffering: a streamed catalog does not keep the bytes of what it has read (core.rows)
        frames = (batch.to_pandas() for batch in parquet_batches(path, chunk_rows))
    line = 1
    for frame in frames:
        for row in frame.to_dict(orient="records"):
            yield line, row
            line += 1


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, row in jsonl_records(path, "catalog", CatalogError):
        yield number, row if isinstance(row, dict) else {"__error__": row}


def _items_from_rows(
    path: Path, rows: Iterator[tuple[int, dict]], m: FieldMapping, rejects: list[Reject],
    vectors: VectorColumn | None = None,
) -> Iterator[Item]:  # fmt: skip
    reader = _VectorReader(path, vectors) if vectors else None
    seen: set[str] = set()
    columns: set[str] = set()
    for line, row in rows:
        if "__error__" in row:
            rejects.append(Reject(str(path), line, "*", row["__error__"]))
            continue
        columns.update(row)
        item_id = _text(row.get(m.id))
        title = _text(row.get(m.title))
        description = _text(row.get(m.description))
        if not item_id:
            rejects.append(Reject(str(path), line, m.id, "missing item id"))
            continue
        if not title and not description:
            rejects.append(Reject(str(path), line, m.title, "missing text (no title and no description)"))
            continue
        price_raw = row.get(m.price)
        price: float | None = None
        if _text(price_raw):
            try:
                price = float(price_raw)
            except (TypeError, ValueError):
                rejects.append(Reject(str(path), line, m.price, f"not a number: {price_raw!r}"))
                continue
            if math.isnan(price) or price < 0:
                rejects.append(Reject(str(path), line, m.price, f"not a valid price: {price_raw!r}"))
                continue
        recommendable = _flag(row.get(m.recommendable))
        if recommendable is None:
            reason = f"not a yes/no value: {row.get(m.recommendable)!r} (use true/false, 1/0 or yes/no)"
            rejects.append(Reject(str(path), line, m.recommendable, reason))
            continue
        if item_id in seen:
            rejects.append(Reject(str(path), line, m.id, f"duplicate item id {item_id!r} (first one kept)"))
            continue
        seen.add(item_id)
        category = _text(row.get(m.category))
        vector = reader.read(line, row) if reader else None
        text = title or description
        yield Item(item_id, text, description, category, price, recommendable=recommendable, vector=vector)
    if columns:
        _check_columns(path, columns, m)


class _VectorReader:
    """Reads and checks the vector cell of each row against one dimension (the given one, else the first row's)."""

    def __init__(self, path: Path, column: VectorColumn):
        self.path, self.column = path, column
        self.dimension, self.of = column.dimension, column.of
        self.seen = False

    def read(self, line: int, row: dict[str, Any]) -> np.ndarray | None:
        from indexer.vectors import parse_vector

        name = self.column.name
        if name not in row and not self.seen:
            found = ", ".join(sorted(row))
            raise CatalogError(
                f"vector column '{name}' not found (columns: {found}); name it with --vector-field COLUMN",
                path=str(self.path), line=line, field=name,
            )  # fmt: skip
        self.seen = True
        try:
            vector = parse_vector(row.get(name))
        except ValueError as e:
            raise CatalogError(f"bad vector: {e}", path=str(self.path), line=line, field=name) from None
        if vector is None:
            if self.column.required:
                raise CatalogError(
                    "missing vector, and no vector model to embed the item's text (--vector-model)",
                    path=str(self.path), line=line, field=name,
                )  # fmt: skip
            return None
        if self.dimension is None:
            self.dimension, self.of = vector.size, f"line {line}'s"
        elif vector.size != self.dimension:
            raise CatalogError(
                f"vector has {vector.size} numbers, expected {self.dimension} ({self.of} dimension); nothing was "
                "written", path=str(self.path), line=line, field=name,
            )  # fmt: skip
        return vector


def _check_columns(path: Path, columns: set[str], m: FieldMapping) -> None:
    """One clear error when the mapping names a column no row has: the id, the text (title or description), or
    any other field mapped to a column of its own (``--mapping price=cost``); fields left at their defaults may
    be absent."""
    found = ", ".join(sorted(columns))
    if m.id not in columns:
        raise CatalogError(
            f"column '{m.id}' for id not found (columns: {found}); map it with --mapping id=COLUMN",
            path=str(path), field="id",
        )  # fmt: skip
    if m.title not in columns and m.description not in columns:
        raise CatalogError(
            f"no column '{m.title}' for title nor '{m.description}' for description (columns: {found}); map one "
            "with --mapping title=COLUMN",
            path=str(path), field="title",
        )  # fmt: skip
    defaults = FieldMapping()
    for name in ("title", "description", "category", "price", "recommendable"):
        source = getattr(m, name)
        if source != getattr(defaults, name) and source not in columns:
            raise CatalogError(
                f"column '{source}' for {name} not found (columns: {found}); map it with --mapping {name}=COLUMN",
                path=str(path), field=name,
            )  # fmt: skip


_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _flag(value: Any) -> bool | None:
    """A yes/no field as a bool: booleans (JSON, Parquet), the numbers 1 and 0, or true/false, 1/0, yes/no in any
    case; missing or empty is True (the default); None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not math.isnan(value):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, list | dict):
        return None
    text = _text(value).lower()
    return _FLAGS.get(text) if text else True


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()
