"""The Online Retail data set: its columns, its stock codes, and which transaction lines are sales and purchases.

Online Retail is a real shop's transaction log, one row per invoice line (:data:`COLUMNS`). Every part of the
project reads it through this module, so the catalog (:mod:`indexer.transactions`), ``recadmin feedback import``
and the commands that read an event file (``train``, ``evaluate``, ``finetune``: :mod:`ranker.feedback.frames`,
through the importer's own reader) agree on what a line means:

* Stock codes are stripped and upper-cased (the data has ``85123a`` beside ``85123A``): one item, one id
  (:func:`normalize_stock_code`).
* A line is a **sale** unless it is a cancellation (an invoice starting with ``C``, case and surrounding blanks
  ignored; it undoes an earlier sale, and that sale stays) or its quantity is not a number above zero (stock
  adjustments). The catalog counts sales (:func:`is_sale`, one row at a time).
* A sale is a **purchase event** when it names a customer (about a quarter of the lines are anonymous guest
  checkouts, which no profile can hold). :func:`purchase_events` turns a frame of lines into event fields:
  ``user_id`` the customer (``17850``, not ``17850.0``), ``item_id`` the stock code, ``type`` ``purchase``, ``ts``
  the invoice time as written (the event checks read it as UTC), ``quantity``, ``value`` = quantity x unit price
  (rounded to 4 decimals) and the invoice as ``session_id``; what it leaves out it counts by :data:`SKIP_REASONS`.
* A stock code names a **product** or a **non-product** (postage, fees, samples, manual adjustments, bank charges,
  gift vouchers): :func:`is_product_code`. The catalog marks non-products not recommendable; their sales stay
  sales and purchase events (they are part of the baskets).

Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository.
https://doi.org/10.24432/C5BW33 (CC BY 4.0).
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pandas as pd

#: Every column of the transaction file, in its order.
COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
#: The columns purchase events are made of (a file with all of them is read as Online Retail events).
EVENT_COLUMNS = frozenset({"InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"})
#: The columns catalog items are made of (a catalog file with all of them is read as Online Retail transactions).
CATALOG_COLUMNS = frozenset({"InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice"})
#: Why a line is not a purchase event, as counted and printed by ``recadmin feedback import`` ("skipped on purpose").
SKIP_REASONS = ("cancellation", "no customer", "quantity <= 0")
ATTRIBUTION = (
    "Online Retail data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository. "
    "https://doi.org/10.24432/C5BW33 (CC BY 4.0)"
)


def normalize_stock_code(value: object) -> str:
    """Stock codes differ only by case in places (``85123A`` and ``85123a``): one item, one upper-case id."""
    return _text(value).upper()


#: Product stock codes: five digits with an optional suffix of one or two letters (``22423``, ``85123A``,
#: ``15056BL``), or a ``DCGS`` code of the Dotcom gift shop (``DCGSSGIRL``, ``DCGS0070``).
_PRODUCT_CODE = re.compile(r"\d{5}[A-Z]{0,2}|DCGS[0-9A-Z]+")


def is_product_code(code: object) -> bool:
    """Whether a stock code names a product (something to recommend) rather than a charge or a bookkeeping line.

    The rule is the shape of the code, not its description: products are five digits with an optional letter
    suffix (3,926 codes, ``85123A``, ``15056BL``), or the Dotcom gift shop's own ``DCGS`` codes (16 codes,
    ``DCGSSGIRL`` "GIRLS PARTY BAG", ``DCGS0070`` "CAMOUFLAGE DOG COLLAR": real goods, sold on the web site). The
    16 other codes of the data set (2,950 of its 541,909 lines) are non-products: ``POST`` postage (1,256 lines),
    ``DOT`` dotcom postage (710), ``M`` manual (572), ``C2`` carriage (144), ``D`` discount (77), ``S`` samples
    (63), ``BANK CHARGES`` (37), ``AMAZONFEE`` (34), ``CRUK`` commission (16), ``GIFT_0001_10`` to ``_50`` gift
    vouchers (34), ``PADS`` (4, "PADS TO MATCH ALL CUSHIONS" at 0.001: a stock fix) and ``B`` adjust bad debt (3).
    Six of them have an item description and so reach the catalog (of 3,782 items): ``POST``, ``DOT``, ``C2``,
    ``S``, ``AMAZONFEE`` and ``PADS``; 1,554 of the 397,924 purchase events are of non-products (1,099 of them
    ``POST``). Case and surrounding blanks are ignored (:func:`normalize_stock_code`)."""
    return _PRODUCT_CODE.fullmatch(normalize_stock_code(code)) is not None


def is_cancellation(invoice: object) -> bool:
    """Whether an invoice number marks a cancellation (``C536379``; row by row, as :func:`cancellations`)."""
    return _text(invoice).upper().startswith("C")


def is_sale(invoice: object, quantity: object) -> bool:
    """Whether a transaction line is a sale: not a cancellation, and a quantity that is a number above zero."""
    number = to_number(quantity)
    return not is_cancellation(invoice) and number is not None and number > 0


def cancellations(invoices: pd.Series) -> np.ndarray:
    """:func:`is_cancellation` of a whole column (a bool array)."""
    text = invoices.astype("string").fillna("").str.strip()
    return text.str.upper().str.startswith("C").fillna(False).to_numpy(dtype=bool)


def purchase_events(lines: pd.DataFrame) -> tuple[pd.DataFrame, Counter]:
    """The purchase events of transaction lines (columns :data:`EVENT_COLUMNS`, any others ignored) and the count of
    lines left out per :data:`SKIP_REASONS` (each line counted once, for the first reason in that order).

    The events frame has the event fields as columns (``user_id, item_id, type, ts, quantity, value, session_id``)
    and keeps the index labels of the lines it came from, so a caller can carry its own columns (line numbers)."""
    invoice = lines["InvoiceNo"].astype("string").fillna("").str.strip()
    customer = lines["CustomerID"]
    numeric_customer = pd.api.types.is_numeric_dtype(customer)
    if not numeric_customer:  # text ids: "17850.0" from a float column written as text is customer 17850
        customer = customer.astype("string").str.strip().str.removesuffix(".0").replace("", pd.NA)
    quantity = pd.to_numeric(lines["Quantity"], errors="coerce")
    cancelled = cancellations(lines["InvoiceNo"])
    anonymous = customer.isna().to_numpy() & ~cancelled
    # Not "quantity <= 0": a quantity that is no number is no sale either (as in is_sale).
    adjustment = ~(quantity > 0).fillna(False).to_numpy(dtype=bool) & ~cancelled & ~anonymous
    keep = ~(cancelled | anonymous | adjustment)
    kept = lines[keep]
    price = pd.to_numeric(kept["UnitPrice"], errors="coerce")
    events = pd.DataFrame(
        {
            "user_id": customer[keep].astype("Int64").astype("string") if numeric_customer else customer[keep],
            "item_id": stock_codes(kept["StockCode"]),
            "type": "purchase",
            "ts": kept["InvoiceDate"],
            "quantity": quantity[keep],
            "value": (quantity[keep] * price).round(4),
            "session_id": invoice[keep],
        },
        index=kept.index,
    )
    counts = (int(cancelled.sum()), int(anonymous.sum()), int(adjustment.sum()))
    return events, +Counter(dict(zip(SKIP_REASONS, counts, strict=True)))


def stock_codes(codes: pd.Series) -> pd.Series:
    """:func:`normalize_stock_code` of a whole column, once per distinct code (4k in 400k lines); missing codes stay
    missing (the event checks reject them)."""
    positions, uniques = pd.factorize(codes)
    normalized = np.array([normalize_stock_code(code) for code in uniques] + [None], dtype=object)
    return pd.Series(normalized[positions], index=codes.index, dtype=object)


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def to_number(value: object) -> float | None:
    """A field as a number; None for a missing value or text that is not one (``pd.to_numeric(errors="coerce")``,
    row by row)."""
    if value is None or value is pd.NA:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
