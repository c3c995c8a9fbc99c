"""From source columns to stored events: the column mapping and the vectorized check of one chunk of rows.

A chunk arrives as a pandas frame with the event fields as columns (``user_id``, ``item_id``, ``type``, ``ts``,
``quantity``, ``value``, ``query``, ``session_id``, maybe ``event_id``) and a ``line`` column (the line in the
file: CSV lines count the header, JSONL lines are file lines, Parquet rows count from 1). Every check runs on
whole columns (no Python object per row), which is what lets an import run at tens of thousands of events a second.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from itertools import repeat

import numpy as np
import pandas as pd

from core.rows import Reject, parse_mapping_spec
from ranker.feedback.events import MAX_ID_LENGTH, MAX_QUERY_ID_LENGTH, MAX_QUERY_LENGTH, NUL, TYPE_PATTERN, ts_window

FIELDS = ("event_id", "user_id", "item_id", "type", "ts", "quantity", "value", "query", "session_id", "query_id")
REQUIRED = ("user_id", "item_id", "type", "ts")


@dataclass(frozen=True)
class EventMapping:
    """Which source column holds which event field; a value in quotes is a constant (``type='purchase'``).

    JSONL columns may be dotted paths into nested objects (``event_attributes.object.object_id``)."""

    event_id: str = "event_id"
    user_id: str = "user_id"
    item_id: str = "item_id"
    type: str = "type"
    ts: str = "ts"
    quantity: str = "quantity"
    value: str = "value"
    query: str = "query"
    session_id: str = "session_id"
    query_id: str = "query_id"

    @classmethod
    def parse(cls, spec: str | None) -> EventMapping:
        """Parse ``user_id=customer,item_id=sku,type='purchase'`` (unnamed fields keep their defaults)."""
        return cls(**parse_mapping_spec(spec, tuple(FIELDS), "event mapping"))

    def items(self) -> list[tuple[str, str]]:
        """(event field, source column or quoted constant) pairs."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


def constant(source: str) -> str | None:
    """The constant a mapping value names (``'purchase'``), or None when it names a column."""
    if len(source) >= 2 and source[0] == source[-1] and source[0] in "'\"":
        return source[1:-1]
    return None


def _text(series: pd.Series) -> pd.Series:
    """Strings with missing values as "" (numbers as their plain text, 17850 not 17850.0).

    Ids, types and sessions repeat a lot (Online Retail: 4k users and 4k items in 400k rows), so text and number
    columns are converted once per distinct value; mixed Python objects (JSON) row by row, where ``1`` and ``1.0``
    must stay different texts."""
    if not _factorizable(series):
        return _text_values(series)
    codes, uniques = pd.factorize(series)
    texts = _text_values(pd.Series(uniques, dtype=series.dtype)).to_numpy()
    # code -1 (missing) takes the "" appended at the end
    return pd.Series(np.append(texts, "")[codes], index=series.index, dtype=object)


def _factorizable(series: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
        return True
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return True
    return series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) == "string"


def _text_values(series: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(series):
        whole = series.notna() & (series == np.floor(series))
        out = series.astype(object).where(~whole, series.where(whole).astype("Int64"))
        series = out
    return series.astype("string").fillna("").str.strip().astype(object)


class _Checks:
    """Collects, per rule, the rows it rejects; a row is reported once, for the first rule it breaks."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.bad = np.zeros(len(frame), dtype=bool)
        self.reasons: list[tuple[np.ndarray, str, str, pd.Series | None]] = []

    def fail(self, mask: pd.Series | np.ndarray, name: str, reason: str, raw: pd.Series | None = None) -> None:
        mask = np.asarray(mask, dtype=bool)
        self.reasons.append((mask & ~self.bad, name, reason, raw))
        self.bad |= mask

    def text(self, name: str) -> pd.Series:
        frame = self.frame
        return _text(frame[name]) if name in frame else pd.Series("", index=frame.index, dtype=object)

    def numbers(self, name: str) -> pd.Series:
        frame = self.frame
        raw = frame[name] if name in frame else pd.Series(np.nan, index=frame.index)
        if pd.api.types.is_numeric_dtype(raw):
            values = raw.astype(float)
        else:
            text = _text(raw)
            values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
            self.fail((text != "") & values.isna(), name, "not a number", text)
        self.fail(np.isinf(values.to_numpy()), name, "not a finite number", raw)
        return values

    def limited(self, values: pd.Series, name: str, limit: int) -> None:
        self.fail(_per_distinct(values, lambda v: v.str.len() > limit), name, f"longer than {limit} characters")
        # PostgreSQL refuses NUL in text; the live API answers 422 for it.
        self.fail(_per_distinct(values, lambda v: v.str.contains(NUL, regex=False)), name, "contains a NUL character")

    def in_window(self, ts: pd.Series, name: str) -> None:
        earliest, latest = ts_window()
        outside = ts.notna() & ((ts < earliest) | (ts > latest))
        self.fail(outside, name, f"not between {earliest:%Y-%m-%d} and one day from now (UTC)", self.text(name))


def _per_distinct(texts: pd.Series, check) -> np.ndarray:
    """``check`` (whole column in, one value per row out) run on the distinct texts only, spread back to the rows."""
    codes, uniques = pd.factorize(texts)
    return np.asarray(check(pd.Series(uniques, dtype=object)))[codes]


def _times(raw: pd.Series) -> pd.Series:
    """UTC times (naive) from datetimes or ISO 8601 text; NaT where unparsable."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        ts = pd.to_datetime(raw, utc=True)
    else:
        text = _text(raw)
        ts = pd.to_datetime(text.where(text != "", None), utc=True, errors="coerce", format="ISO8601")
        retry = ts.isna() & (text != "")
        if retry.any():  # other spellings ("12/1/2010 8:26") cost more, so only for what ISO 8601 missed
            ts[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    return ts.dt.tz_convert(None).astype("datetime64[us]")


def check_rows(frame: pd.DataFrame, path: str) -> tuple[list[tuple], list[Reject]]:
    """:func:`check_chunk` of a source's chunk, after the rows the source could not parse at all (an ``__error__``
    column: broken JSON) became rejects of field ``*``; rejects in line order. What an import stores, and what
    :func:`ranker.feedback.frames.events_frame_from_file` reads."""
    broken: list[Reject] = []
    if "__error__" in frame and frame["__error__"].notna().any():
        errors = frame["__error__"].notna()
        broken = [Reject(path, int(line), "*", reason)
                  for line, reason in zip(frame["line"][errors], frame["__error__"][errors], strict=True)]  # fmt: skip
        frame = frame[~errors].reset_index(drop=True)
    rows, rejects = check_chunk(frame, path) if len(frame) else ([], [])
    return rows, sorted(broken + rejects, key=lambda r: r.line)


def check_chunk(frame: pd.DataFrame, path: str) -> tuple[list[tuple], list[Reject]]:
    """Staged rows (see :data:`ranker.feedback.writer.STAGE_COLUMNS`, ``in_catalog`` left as 1) and rejects."""
    c = _Checks(frame)
    user = c.text("user_id")
    c.fail(user == "", "user_id", "missing user id")
    c.limited(user, "user_id", MAX_ID_LENGTH)
    type_ = c.text("type")
    type_ = pd.Series(_per_distinct(type_, lambda v: v.str.lower()), index=type_.index, dtype=object)
    shaped = _per_distinct(type_, lambda v: v.str.fullmatch(TYPE_PATTERN.pattern).fillna(False).astype(bool))
    c.fail(~shaped.astype(bool), "type", "not an event type (a lower-case word, e.g. purchase)", type_)
    item = c.text("item_id")
    c.fail((item == "") & (type_ != "search"), "item_id", "missing item id")
    c.limited(item, "item_id", MAX_ID_LENGTH)
    ts = _times(frame["ts"]) if "ts" in frame else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
    c.fail(ts.isna(), "ts", "missing or unreadable time", c.text("ts"))
    c.in_window(ts, "ts")
    quantity = c.numbers("quantity")
    value = c.numbers("value")
    query = c.text("query")
    c.limited(query, "query", MAX_QUERY_LENGTH)
    session = c.text("session_id")
    c.limited(session, "session_id", MAX_ID_LENGTH)
    own_id = c.text("event_id")
    c.limited(own_id, "event_id", MAX_ID_LENGTH)
    query_id = c.text("query_id")
    c.limited(query_id, "query_id", MAX_QUERY_ID_LENGTH)

    rejects = _rejects(frame, path, c.reasons)
    good = ~c.bad
    if not good.any():
        return [], rejects
    users, items, types = user[good].tolist(), item[good].tolist(), type_[good].tolist()
    stamps = stamp_texts(ts[good].to_numpy())
    quantities, values = quantity[good].to_numpy(), value[good].to_numpy()
    queries, sessions = query[good].tolist(), session[good].tolist()
    ids = content_ids(users, items, types, stamps, _number_texts(quantities), _number_texts(values), queries,
                      sessions)  # fmt: skip
    own = own_id[good].to_numpy()
    if (own != "").any():  # a source with its own event ids keeps them
        ids = np.where(own != "", own, np.array(ids, dtype=object)).tolist()
    rows = list(zip(ids, users, items, types, stamps, _optional_floats(quantities), _optional_floats(values),
                    _optional_texts(queries), _optional_texts(sessions), repeat(1),
                    _optional_texts(query_id[good].tolist())))  # fmt: skip
    return rows, rejects


def stamp_texts(ts: np.ndarray) -> list[str]:
    """``datetime64[us]`` values as the stored text ``YYYY-MM-DD HH:MM:SS.ffffff``
    (see :func:`ranker.feedback.events.ts_text`),
    formatted once per distinct time (the lines of one invoice share theirs)."""
    codes, distinct = pd.factorize(ts)
    iso = np.datetime_as_string(np.asarray(distinct, dtype="datetime64[us]"), unit="us")
    if iso.dtype.itemsize // 4 == 26:  # every year has 4 digits: put the space in one vectorized byte write
        raw = iso.astype("S26")
        raw.view(np.uint8).reshape(-1, 26)[:, 10] = ord(" ")
        texts = raw.astype("U26").astype(object)
    else:
        texts = np.array([s[:10] + " " + s[11:] for s in iso], dtype=object)
    return texts[codes].tolist()


def _number_texts(values: np.ndarray) -> list[str]:
    """``repr`` of each float ("" for NaN), as the content id hashes it; once per distinct value."""
    codes, distinct = pd.factorize(values)  # NaN: code -1, the "" at the end
    texts = np.array([repr(float(x)) for x in distinct] + [""], dtype=object)[codes]
    zeros = np.flatnonzero(values == 0)  # 0.0 and -0.0 are one value to factorize but two texts
    texts[zeros] = [repr(float(x)) for x in values[zeros]]
    return texts.tolist()


def _optional_floats(values: np.ndarray) -> list[float | None]:
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out.tolist()


def _optional_texts(values: list[str]) -> list[str | None]:
    if not any(values):
        return [None] * len(values)
    return [x or None for x in values] if "" in values else values


def content_ids(users, items, types, stamps, quantities, values, queries, sessions) -> list[str]:
    """:func:`ranker.feedback.events.event_id_for` of whole columns of text (numbers as their ``repr``, missing
    values as
    ""): the same ids, with the per-row work cut to one join and one hash (this runs for every imported row)."""
    keys = map("\x1f".join, zip(users, items, types, stamps, quantities, values, queries, sessions, strict=True))
    blake2b = hashlib.blake2b
    return [blake2b(key.encode(), digest_size=12).hexdigest() for key in keys]


def _rejects(frame: pd.DataFrame, path: str, reasons: list) -> list[Reject]:
    lines = frame["line"].to_numpy()
    out: list[Reject] = []
    for mask, name, reason, raw in reasons:
        for pos in np.flatnonzero(mask):
            detail = f"{reason}: {raw.iloc[pos]!r}" if raw is not None else reason
            out.append(Reject(path, int(lines[pos]), name, detail))
    out.sort(key=lambda r: r.line)
    return out
