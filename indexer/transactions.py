"""Online Retail transactions as a catalog: transaction lines in, one item per StockCode out.

What a line means is :mod:`core.online_retail`'s (the same rule the events follow): stock codes upper-cased (the
data has ``85123a`` beside ``85123A``), and only sales count (:func:`core.online_retail.is_sale`: no cancellation,
a quantity above zero; a sale without a customer is still a sale of the item). Each item takes its most frequent
description (stock codes carry several over time) and the median unit price of its sales. Items come out
best-selling first (most sales lines; first appearance breaks ties), so ``index build --enrich-limit N`` has the LLM
enrich the N items that sell most. A sale with a price of zero or less does not count for the price, one without a
description or with a note instead of one (``?``, lower-case stock notes) not for the title. Stock codes that are no
product codes (postage, carriage, fees, samples, manual adjustments, gift vouchers:
:func:`core.online_retail.is_product_code`, where the rule and its counts are) become items that are not
recommendable: searchable by name, never recommended.

Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository.
https://doi.org/10.24432/C5BW33 (CC BY 4.0).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from core.online_retail import is_product_code, is_sale, normalize_stock_code, to_number
from core.rows import Reject
from indexer.catalog import CatalogRead, Item


def _is_real_description(text: str) -> bool:
    # Stock adjustments carry notes such as "?", "damaged" or "wet pallet": real item text is upper-case.
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and text.upper() == text


def items_from_transactions(path: Path, rows: Iterator[tuple[int, dict]]) -> CatalogRead:
    """Aggregate transaction rows into items; rows that cannot name an item are skipped silently
    (they are sales lines, not catalog rows), and codes that never get a real description are rejected."""
    descriptions: dict[str, Counter[str]] = defaultdict(Counter)
    prices: dict[str, list[float]] = defaultdict(list)
    first_line: dict[str, int] = {}
    sales: Counter[str] = Counter()
    rejects: list[Reject] = []
    for line, row in rows:
        if "__error__" in row:  # a line the reader could not split into the header's fields
            rejects.append(Reject(str(path), line, "*", row["__error__"]))
            continue
        code = normalize_stock_code(row.get("StockCode"))
        if not code:
            continue
        first_line.setdefault(code, line)
        if not is_sale(row.get("InvoiceNo"), row.get("Quantity")):
            continue
        price = to_number(row.get("UnitPrice"))
        sales[code] += 1
        text = str(row.get("Description") or "").strip()
        if text and _is_real_description(text):
            descriptions[code][" ".join(text.split())] += 1
        if price is not None and price > 0:
            prices[code].append(price)
    items: list[Item] = []
    for code, line in first_line.items():
        counts = descriptions.get(code)
        if not counts:
            rejects.append(Reject(str(path), line, "Description", f"stock code {code!r} has no item description"))
            continue
        # Most frequent description; ties broken alphabetically so builds are reproducible.
        title = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        price = round(statistics.median(prices[code]), 2) if prices.get(code) else None
        items.append(Item(id=code, title=title, price=price, recommendable=is_product_code(code)))
    items.sort(key=lambda item: -sales[item.id])  # stable: ties keep the order of first appearance
    rejects.sort(key=lambda r: r.line)
    return CatalogRead(items, rejects, str(path))
