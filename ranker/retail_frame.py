"""Online Retail transactions as an events frame (the ``load_events_frame`` columns), for training straight from
the parquet file when the events have not been imported into the store.

Each sales line of a known customer is one ``purchase`` event at its invoice time; cancellations (invoice starting
with ``C``), non-positive quantities and lines without a customer are left out.

Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository.
https://doi.org/10.24432/C5BW33 (CC BY 4.0).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.errors import InputError
from indexer.transactions import normalize_stock_code

EVENT_COLUMNS = ["user_id", "item_id", "type", "ts", "quantity", "value", "in_catalog"]
_NEEDED = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]


def events_from_online_retail(path: Path) -> pd.DataFrame:
    """The events frame of an Online Retail transactions file (parquet or CSV), sorted by (user_id, ts)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=str(path))
    try:
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, encoding="latin-1")
    except Exception as e:  # pyarrow and pandas raise many types for a broken file
        raise InputError(f"cannot read the file: {type(e).__name__}: {e}", path=str(path)) from None
    missing = [c for c in _NEEDED if c not in raw.columns]
    if missing:
        raise InputError("not an Online Retail transactions file", path=str(path), field=missing[0])
    raw = raw.dropna(subset=["CustomerID", "StockCode", "InvoiceDate"])
    quantity = pd.to_numeric(raw["Quantity"], errors="coerce")
    keep = ~raw["InvoiceNo"].astype(str).str.startswith("C") & (quantity > 0)
    raw, quantity = raw[keep], quantity[keep]
    price = pd.to_numeric(raw["UnitPrice"], errors="coerce").fillna(0.0)
    frame = pd.DataFrame(
        {
            "user_id": raw["CustomerID"].astype("int64").astype(str).to_numpy(),
            "item_id": [normalize_stock_code(c) for c in raw["StockCode"]],
            "type": "purchase",
            "ts": pd.to_datetime(raw["InvoiceDate"]).astype("datetime64[ns]").to_numpy(),
            "quantity": quantity.astype(float).to_numpy(),
            "value": (quantity * price).astype(float).to_numpy(),
            "in_catalog": True,
        }
    )
    return frame.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
