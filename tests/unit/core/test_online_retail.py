"""The one Online Retail adapter: the row-by-row rule (catalog) and the column rule (events) agree."""

from __future__ import annotations

import pandas as pd

from core.online_retail import cancellations, is_cancellation, is_sale, normalize_stock_code, purchase_events
from indexer.catalog import read_catalog
from ranker.feedback.frames import read_event_file

INVOICES = ["536365", "C536379", " c536380", "536381", None, float("nan"), 536382, pd.NA]
QUANTITIES = ["6", " 6 ", "1e2", "0", "-1", "abc", "", None, float("nan"), 3, -2.5, pd.NA]


def test_the_row_rule_and_the_column_rule_agree():
    assert cancellations(pd.Series(INVOICES, dtype=object)).tolist() == [is_cancellation(v) for v in INVOICES]
    assert [is_cancellation(v) for v in INVOICES] == [False, True, True, False, False, False, False, False]
    lines = pd.DataFrame({
        "InvoiceNo": ["1"] * len(QUANTITIES), "StockCode": ["A"] * len(QUANTITIES), "Quantity": QUANTITIES,
        "InvoiceDate": ["2011-01-01"] * len(QUANTITIES), "UnitPrice": [1.0] * len(QUANTITIES),
        "CustomerID": ["17850"] * len(QUANTITIES),
    })  # fmt: skip
    events, skipped = purchase_events(lines)
    assert events.index.tolist() == [i for i, q in enumerate(QUANTITIES) if is_sale("1", q)] == [0, 1, 2, 9]
    assert skipped == {"quantity <= 0": len(QUANTITIES) - 4}


def test_stock_codes_are_one_upper_case_id():
    assert [normalize_stock_code(v) for v in ("85123a", " 85123A ", None, float("nan"), pd.NA)] == [
        "85123A", "85123A", "", "", ""]  # fmt: skip


def test_the_catalog_counts_the_sales_the_events_are_made_of(tmp_path):
    path = tmp_path / "tx.csv"
    rows = [
        ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "2.55", "17850"),
        (" c536366", "22000", "CAKE TIN", "5", "1.0", "17850"),  # a cancellation, written loosely: no sale
        ("536367", "22001", "DOOR MAT", "0", "1.0", "17850"),  # no quantity: no sale
        ("536368", "22002", "BLUE BOWL", "abc", "1.0", "17850"),  # no number: no sale
        ("536369", "22003", "RED MUG", "1", "1.0", ""),  # a sale, of a guest: no event
        ("536370", "22004", "TEA SET", "2", "1.0", "12347"),
        ("C536371", "22004", "TEA SET", "9", "1.0", "12347"),  # cancels some of 22004: still one sale
        ("C536372", "22003", "RED MUG", "9", "1.0", "12347"),
        ("C536373", "22003", "RED MUG", "9", "1.0", "12347"),
    ]
    columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice", "CustomerID"]
    frame = pd.DataFrame(rows, columns=columns).assign(InvoiceDate="2011-01-01 10:00")
    frame.to_csv(path, index=False)
    catalog = read_catalog(path)
    assert [i.id for i in catalog.items] == ["85123A", "22003", "22004"]  # one sale each: cancellations do not count
    # codes without a sale have no item description to take (the lines' own text does not count)
    assert [(r.line, r.field, r.reason.split("'")[1]) for r in catalog.rejects] == [
        (3, "Description", "22000"), (4, "Description", "22001"), (5, "Description", "22002")]  # fmt: skip
    read = read_event_file(path)
    assert read.frame["item_id"].tolist() == ["22004", "85123A"]  # the sales of known customers
    assert dict(read.skipped) == {"cancellation": 4, "no customer": 1, "quantity <= 0": 2}


def test_non_product_stock_codes_are_told_by_their_shape():
    from core.online_retail import is_product_code

    products = ["85123A", "22423", "15056BL", "85123a", " 47566 ", "DCGSSGIRL", "DCGS0070", "DCGS0066P"]
    non_products = ["POST", "DOT", "M", "m", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "B", "PADS",
                    "gift_0001_10", "GIFT_0001_50", "", None, "1234", "123456"]  # fmt: skip
    assert [c for c in products if not is_product_code(c)] == []
    assert [c for c in non_products if is_product_code(c)] == []


def test_the_non_product_rule_on_the_whole_data_set_matches_its_documented_counts():
    from core.online_retail import is_product_code
    from tests.paths import DATA

    codes = pd.read_parquet(DATA, columns=["StockCode"])["StockCode"].map(normalize_stock_code)
    flags = {code: is_product_code(code) for code in codes.unique()}
    assert sum(flags.values()) == 3942 and len(flags) - sum(flags.values()) == 16
    assert int((~codes.map(flags)).sum()) == 2950
