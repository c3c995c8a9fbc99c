"""Interaction logs for evaluation and fine-tuning: validated frames of (user, item, time) events.

The events store (:func:`ranker.feedback.events.load_events_frame`) is the normal source. A file can be given instead: an
events file with ``user_id``, ``item_id``, ``ts`` columns (``type`` optional), or Online Retail transactions,
which are read as purchases (cancellations and lines without a customer dropped, stock codes normalised).

Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository.
https://doi.org/10.24432/C5BW33 (CC BY 4.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.errors import ConfigError, InputError
from indexer.transactions import normalize_stock_code

if TYPE_CHECKING:
    from core.settings import Settings

COLUMNS = ["user_id", "item_id", "type", "ts"]
ONLINE_RETAIL_COLUMNS = {"InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "CustomerID"}


def interactions_from_frame(frame: pd.DataFrame, event_types: Sequence[str] = ("purchase",), source: str = "events"):
    """The events of ``event_types`` as a frame with ``user_id``, ``item_id`` (str), ``type``, ``ts``
    (datetime64), sorted by (user_id, ts); rows outside the catalog (``in_catalog`` False) are dropped."""
    missing = [c for c in ("user_id", "item_id", "ts") if c not in frame.columns]
    if missing:
        raise InputError(f"events need columns user_id, item_id, ts; missing {', '.join(missing)}", path=source)
    out = frame.copy()
    if "type" not in out.columns:
        out["type"] = "purchase"
    if "in_catalog" in out.columns:
        out = out[out["in_catalog"].fillna(True).astype(bool)]
    try:
        out["ts"] = pd.to_datetime(out["ts"], utc=True).dt.tz_localize(None).astype("datetime64[ns]")
    except (ValueError, TypeError) as e:
        bad = _first_bad_timestamp(out["ts"])
        raise InputError(f"not a timestamp: {bad!r} ({str(e).splitlines()[0]})", path=source, field="ts") from None
    out = out[out["user_id"].notna() & out["item_id"].notna() & out["ts"].notna()]
    out["user_id"] = out["user_id"].astype(str)
    out["item_id"] = out["item_id"].astype(str)
    out["type"] = out["type"].astype(str)
    if event_types:
        out = out[out["type"].isin(list(event_types))]
    return out[COLUMNS].sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)


def _first_bad_timestamp(values: pd.Series) -> object:
    for value in values:
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            return value
    return None


def online_retail_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Online Retail transaction lines as purchase events: one per line with a customer, a positive quantity and
    an invoice that is not a cancellation (``C...``)."""
    invoice = frame["InvoiceNo"].astype(str)
    keep = frame["CustomerID"].notna() & (frame["Quantity"] > 0) & ~invoice.str.startswith("C")
    lines = frame[keep]
    return pd.DataFrame(
        {
            "user_id": lines["CustomerID"].astype("int64").astype(str),
            "item_id": lines["StockCode"].map(normalize_stock_code),
            "type": "purchase",
            "ts": lines["InvoiceDate"],
        }
    )


def read_events_file(path: Path, event_types: Sequence[str] = ("purchase",)) -> pd.DataFrame:
    """Events from a Parquet, CSV or JSONL file (an events file or Online Retail transactions)."""
    if not path.is_file():
        raise InputError("events file does not exist", path=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path, dtype={"user_id": str, "item_id": str, "CustomerID": "Int64"})
        elif suffix in (".jsonl", ".ndjson", ".json"):
            frame = pd.read_json(path, lines=True, dtype={"user_id": str, "item_id": str})
        else:
            raise InputError(f"unknown events format '{suffix}' (use .parquet, .csv or .jsonl)", path=str(path))
    except InputError:
        raise
    except Exception as e:  # pandas/pyarrow raise many parser errors
        raise InputError(f"cannot read events: {str(e).splitlines()[0]}", path=str(path)) from None
    if ONLINE_RETAIL_COLUMNS <= set(frame.columns):
        frame = online_retail_events(frame)
    events = interactions_from_frame(frame, event_types, source=str(path))
    if events.empty:
        raise InputError(f"no events of type {', '.join(event_types)}", path=str(path))
    return events


def load_events(settings: Settings, path: Path | None = None, until=None) -> pd.DataFrame:
    """Events from ``path`` when given, else from the events store (``ranker.feedback.events.load_events_frame``)."""
    types = settings.evaluation.event_types
    if path is not None:
        events = read_events_file(path, types)
        return events[events["ts"] < pd.Timestamp(until)] if until is not None else events
    try:
        from ranker.feedback.events import load_events_frame
    except ImportError:
        raise ConfigError("no events store in this installation; pass an events file with --events PATH") from None
    from core.store import open_store

    frame = load_events_frame(open_store(settings.store), until=until)
    events = interactions_from_frame(frame, types, source=settings.store.url)
    if events.empty:
        raise InputError(
            f"the events store has no events of type {', '.join(types)}; import some with the feedback commands "
            "or pass --events PATH"
        )
    return events
