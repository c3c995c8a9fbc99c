"""Events gathered chunk by chunk into compact columns: what keeps reading 20M events within memory.

A frame of every event as Python strings costs about 90 bytes an event after the read and twice that at its peak
(docs/scaling.md, "Training at scale": ~18 GB at 20M events). :class:`EventColumns` takes the events one chunk (a
file's chunk, a page of the store) at a time and keeps each as columns of codes: ``user_id``, ``item_id`` and
``type`` as pandas categoricals, ``ts`` as ``datetime64[ns]``, ``quantity`` and ``value`` as float32 in the compact
form (float64 otherwise), the write order as int64; a file's event ids only as a 128-bit hash each (16 bytes), enough
to keep one event per id as the store does. The chunk's filters (:class:`EventFilter`: a time cutoff, event types,
the catalog's items) apply while reading, and ``max_events`` keeps only the newest events, so no whole frame of
strings, and no more events than the cap, ever exists.

:meth:`EventColumns.frame` gives the events frame of :mod:`ranker.feedback.frames`, in its order (user, time, write
order, then the order read: event ids in byte order for the store), either compact (categoricals whose categories
are sorted, so their codes sort as the strings do) or with plain string columns, as the readers always gave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

#: The columns a chunk brings (``event_id`` only where ids must be made unique: files).
CHUNK_COLUMNS = ["seq", "user_id", "item_id", "type", "ts", "quantity", "value", "in_catalog"]
_CODED = ("user_id", "item_id", "type")
_HASH_KEYS = ("recsearch-events", "events-recsearch")  # two 64-bit hashes: a false repeat ~n^2/2^129, never seen


@dataclass(frozen=True)
class EventFilter:
    """What of the events to keep, applied to each chunk as it is read."""

    #: Events strictly before this time (naive UTC).
    until: datetime | None = None
    #: Only these event types.
    types: Sequence[str] | None = None
    #: Only events the store has not flagged as naming an item outside the catalog.
    catalog_only: bool = False
    #: Only events naming one of these item ids (training: the item table's; the rest it never reads).
    items: Sequence[str] | None = None
    #: Only the newest this many events (by time, then write order); None: all.
    max_events: int | None = None


class EventColumns:
    """Chunks of events in, one events frame out (see the module's docstring).

    ``dedup``: keep only the first row of an event id (a file; the store's ids are unique already)."""

    def __init__(self, keep: EventFilter | None = None, *, compact: bool = False, dedup: bool = False):
        self.keep = keep or EventFilter()
        self.compact, self.dedup = compact, dedup
        self._items = pd.Index(pd.unique(np.asarray(self.keep.items, dtype=object))) if self.keep.items else None
        self._parts: list[pd.DataFrame] = []
        self._held = 0
        self._hashes: list[np.ndarray] = []
        #: Rows given to :meth:`add` (a file's checked rows, the store's events with an item).
        self.rows = 0
        #: Rows naming an item outside ``keep.items`` (left out).
        self.outside_items = 0
        #: Rows dropped as the newest-events cap was applied.
        self.capped = 0

    def add(self, chunk: pd.DataFrame) -> None:
        """One chunk with :data:`CHUNK_COLUMNS` (``ts`` already ``datetime64``), plus ``event_id`` when ``dedup``.
        Rows without an item are left out here (searches)."""
        n = len(chunk)
        position = np.arange(self.rows, self.rows + n, dtype=np.int64)
        self.rows += n
        if self.dedup:
            ids = chunk["event_id"].to_numpy(dtype=object)
            self._hashes.append(np.stack([pd.util.hash_array(ids, hash_key=k) for k in _HASH_KEYS], axis=1))
        item = chunk["item_id"].to_numpy(dtype=object)
        keep = item != ""
        if self.keep.until is not None:
            keep &= (chunk["ts"] < pd.Timestamp(self.keep.until)).to_numpy()
        if self.keep.types:
            keep &= chunk["type"].isin(list(self.keep.types)).to_numpy()
        if self.keep.catalog_only:
            keep &= chunk["in_catalog"].astype(bool).to_numpy()
        if self._items is not None:
            known = self._items.get_indexer(item) >= 0
            self.outside_items += int((keep & ~known).sum())
            keep &= known
        if not keep.any():
            return
        part = chunk.loc[keep]
        floats = np.float32 if self.compact else np.float64
        self._parts.append(pd.DataFrame({
            **{c: pd.Categorical(part[c].to_numpy(dtype=object)) for c in _CODED},
            "ts": part["ts"].to_numpy().astype("datetime64[ns]"),
            "quantity": part["quantity"].to_numpy(dtype=floats, na_value=np.nan),
            "value": part["value"].to_numpy(dtype=floats, na_value=np.nan),
            "in_catalog": part["in_catalog"].to_numpy(dtype=bool),
            "seq": part["seq"].to_numpy(dtype=np.int64),
            "position": position[keep],
        }))  # fmt: skip
        self._held += len(part)
        cap = self.keep.max_events
        if cap is not None and self._held > 2 * cap:  # trimmed now and then: amortized, at most 2x the cap held
            self._parts = [self._gathered()]
            self._held = len(self._parts[0])

    @property
    def repeated(self) -> int:
        """Rows whose event id an earlier row already had (0 unless ``dedup``)."""
        return int((~self._first()).sum()) if self.dedup and self._hashes else 0

    def _first(self) -> np.ndarray:
        """(rows,) bool: the row is the first of its event id among all rows so far."""
        if len(self._hashes) > 1:
            self._hashes = [np.concatenate(self._hashes)]
        h = self._hashes[0]
        return ~pd.DataFrame({"a": h[:, 0], "b": h[:, 1]}).duplicated(keep="first").to_numpy()

    def _gathered(self) -> pd.DataFrame:
        """The parts as one frame, repeated ids and events beyond the cap left out (order not yet the frame's)."""
        if not self._parts:
            return pd.DataFrame()
        parts = self._parts
        frame = pd.DataFrame({
            c: union_categoricals([p[c] for p in parts], sort_categories=True) if c in _CODED
            else np.concatenate([p[c].to_numpy() for p in parts])
            for c in parts[0].columns
        })  # fmt: skip
        self._parts = []
        if self.dedup:
            frame = frame[self._first()[frame["position"].to_numpy()]]
        cap = self.keep.max_events
        if cap is not None and len(frame) > cap:
            # The newest by time, then write order, then the order read.
            order = np.lexsort((frame["position"].to_numpy(), frame["seq"].to_numpy(), frame["ts"].to_numpy()))
            self.capped += len(frame) - cap
            frame = frame.iloc[np.sort(order[-cap:])]
        return frame.reset_index(drop=True)

    def frame(self, columns: Sequence[str]) -> pd.DataFrame:
        """The events frame with ``columns`` (of :data:`CHUNK_COLUMNS`) in its order: by user, time, write order,
        then the order read. Compact: categoricals (sorted categories, none unused) and float32; else strings."""
        frame = self._gathered()
        if frame.empty:
            return _empty(columns, self.compact)
        for c in _CODED:
            frame[c] = frame[c].cat.remove_unused_categories()
        user = frame["user_id"].cat.codes.to_numpy()
        order = np.lexsort((frame["position"].to_numpy(), frame["seq"].to_numpy(), frame["ts"].to_numpy(), user))
        frame = frame.iloc[order][list(columns)].reset_index(drop=True)
        if not self.compact:
            for c in _CODED:
                if c in frame:
                    frame[c] = frame[c].astype(str)
        return frame


def _empty(columns: Sequence[str], compact: bool) -> pd.DataFrame:
    text = "category" if compact else str
    floats = np.float32 if compact else float
    types = {"user_id": text, "item_id": text, "type": text, "ts": "datetime64[ns]", "quantity": floats,
             "value": floats, "in_catalog": bool, "seq": np.int64}  # fmt: skip
    return pd.DataFrame({c: pd.Series(dtype=types[c]) for c in columns})
