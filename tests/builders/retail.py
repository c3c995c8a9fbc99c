"""Small real catalogs and event files cut from Online Retail: its best-selling stock codes and their sales lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.paths import DATA


def best_sellers_slice(target: Path, items: int) -> Path:
    """The sales lines of the ``items`` most-sold stock codes (any case of a code counts as the code), written to
    ``target`` as Parquet in the transactions' own columns."""
    frame = pd.read_parquet(DATA)
    codes = frame["StockCode"].str.upper()
    frame[codes.isin(codes.value_counts().index[:items])].to_parquet(target)
    return target
