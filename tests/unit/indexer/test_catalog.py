import json

import pandas as pd
import pytest

from core.errors import CatalogError, InputError
from core.rows import write_rejects
from indexer.catalog import FieldMapping, detect_format, read_catalog


def test_csv_with_mapping_reads_items_and_rejects_bad_rows_with_line_and_field(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "sku,name,cost,kind\n"
        "A1,Red mug,3.50,kitchen\n"
        ",No id,1.00,x\n"  # line 3: missing id
        "A3,,2.00,x\n"  # line 4: no text
        "A4,Blue mug,cheap,kitchen\n"  # line 5: bad number
        "A5,Green mug,,kitchen\n"  # no price is fine
    )
    read = read_catalog(path, FieldMapping.parse("id=sku,title=name,price=cost,category=kind"))
    assert [i.id for i in read.items] == ["A1", "A5"]
    assert read.items[0].price == 3.5 and read.items[0].category == "kitchen"
    assert read.items[1].price is None
    assert [(r.line, r.field) for r in read.rejects] == [(3, "sku"), (4, "name"), (5, "cost")]
    assert "items.csv:5: field 'cost': not a number" in str(read.rejects[2])


def test_jsonl_reports_broken_json_lines_and_keeps_going(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(
        json.dumps({"id": "1", "title": "Lamp"}) + "\n"
        "{not json\n"
        "\n" + json.dumps(["a list"]) + "\n" + json.dumps({"id": "2", "description": "A chair", "price": 10}) + "\n"
    )
    read = read_catalog(path)
    assert [i.id for i in read.items] == ["1", "2"]
    assert read.items[1].title == "A chair"  # description stands in for a missing title
    assert [(r.line, r.field) for r in read.rejects] == [(2, "*"), (4, "*")]


def test_parquet_items_file(tmp_path):
    path = tmp_path / "items.parquet"
    pd.DataFrame({"id": ["x", "y"], "title": ["Cup", "Plate"], "price": [1.0, float("nan")]}).to_parquet(path)
    read = read_catalog(path)
    assert [(i.id, i.title, i.price) for i in read.items] == [("x", "Cup", 1.0), ("y", "Plate", None)]


def test_duplicate_ids_keep_the_first(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("id,title\n1,First\n1,Second\n")
    read = read_catalog(path)
    assert [i.title for i in read.items] == ["First"]
    assert read.rejects[0].line == 3


def test_online_retail_transactions_become_one_item_per_stock_code(tmp_path):
    path = tmp_path / "tx.csv"
    rows = [
        ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, 2.55),
        ("536366", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, 2.95),
        ("536367", "85123a", "CREAM HANGING HEART T-LIGHT HOLDER", 2, 3.25),
        ("C536368", "85123A", "CANCELLED TEXT", 6, 100.0),  # cancellation: ignored
        ("536369", "22000", "?", 1, 0.0),  # only a note: rejected
    ]
    pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice"]).to_csv(
        path, index=False
    )
    read = read_catalog(path)
    assert len(read.items) == 1
    item = read.items[0]
    assert item.id == "85123A"  # codes differing only by case are one item
    assert item.title == "WHITE HANGING HEART T-LIGHT HOLDER"  # the most frequent description
    assert item.price == 2.95  # median of 2.55, 2.95, 3.25
    assert [(r.field, r.line) for r in read.rejects] == [("Description", 6)]


def test_online_retail_items_come_best_selling_first_so_the_enrich_limit_takes_the_best_sellers(tmp_path):
    path = tmp_path / "tx.csv"
    rows = [("1", "A", "APPLE MUG", 1, 1.0), ("2", "B", "BLUE BOWL", 1, 1.0), ("3", "C", "CAKE TIN", 1, 1.0)]
    rows += [("4", "B", "BLUE BOWL", 1, 1.0), ("5", "C", "CAKE TIN", 1, 1.0), ("6", "C", "CAKE TIN", 1, 1.0)]
    rows += [("C7", "A", "APPLE MUG", 5, 1.0)] * 3 + [("8", "D", "DOOR SIGN", 1, 1.0)]  # cancellations do not count
    pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice"]).to_csv(
        path, index=False
    )
    assert [i.id for i in read_catalog(path).items] == ["C", "B", "A", "D"]  # 3, 2, 1, 1 sales; A appeared first


def test_missing_unreadable_and_unknown_catalogs_raise_one_clear_error(tmp_path):
    with pytest.raises(CatalogError, match=r"nope.csv: catalog file does not exist"):
        read_catalog(tmp_path / "nope.csv")
    with pytest.raises(CatalogError, match="is a folder"):
        read_catalog(tmp_path)
    bad = tmp_path / "items.xlsx"
    bad.write_text("x")
    with pytest.raises(CatalogError, match="unknown catalog format"):
        read_catalog(bad)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(CatalogError, match="cannot parse catalog as parquet"):
        read_catalog(broken)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(CatalogError, match="no rows"):
        read_catalog(empty)


def test_undecodable_file_is_reported(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,title\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(CatalogError, match=r"latin1.csv: cannot read catalog"):
        read_catalog(path)


def test_bad_mapping_names_the_problem():
    with pytest.raises(InputError, match="bad field mapping 'colour=x'"):
        FieldMapping.parse("id=sku,colour=x")


def test_format_detection():
    from pathlib import Path

    assert detect_format(Path("a.NDJSON")) == "jsonl"
    assert detect_format(Path("a.parquet")) == "parquet"


def test_rejects_file_is_jsonl(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("id,title\n,x\n")
    read = read_catalog(path)
    target = tmp_path / "out" / "rejects.jsonl"
    write_rejects(read.rejects, target)
    assert json.loads(target.read_text()) == {"path": str(path), "line": 2, "field": "id", "reason": "missing item id"}


def test_jsonl_catalog_that_is_not_utf8_is_one_clear_error(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"id": "1", "title": "ok"}\n{"id": "2", "title": "caf\xe9"}\n')
    with pytest.raises(CatalogError, match=r"items.jsonl: catalog is not UTF-8 text"):
        read_catalog(path)


def test_the_recommendable_column_takes_yes_no_values_and_rejects_anything_else_with_line_and_field(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "sku,name,show\n"
        "A1,Red mug,true\n"
        "P1,Postage,FALSE\n"
        "S1,Samples,no\n"
        "A2,Blue mug,Yes\n"
        "A3,Green mug,1\n"
        "F1,Amazon fee,0\n"
        "A4,White mug,\n"  # empty: the default, recommendable
        "A5,Black mug,maybe\n"  # line 9: not a yes/no value
    )
    read = read_catalog(path, FieldMapping.parse("id=sku,title=name,recommendable=show"))
    flags = {i.id: i.recommendable for i in read.items}
    assert flags == {"A1": True, "P1": False, "S1": False, "A2": True, "A3": True, "F1": False, "A4": True}
    assert [str(r) for r in read.rejects] == [
        f"{path}:9: field 'show': not a yes/no value: 'maybe' (use true/false, 1/0 or yes/no)"
    ]


def test_without_a_recommendable_column_every_item_may_be_recommended(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("id,title\n1,Red mug\n")
    assert [i.recommendable for i in read_catalog(path).items] == [True]


def test_recommendable_from_json_and_parquet_types(tmp_path):
    jsonl = tmp_path / "items.jsonl"
    values = [True, False, 0, None, 2, ["no"]]  # 2 and a list are no yes/no values
    rows = [{"id": str(n), "title": f"item {n}", "recommendable": v} for n, v in enumerate(values, start=1)]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    read = read_catalog(jsonl)
    assert [(i.id, i.recommendable) for i in read.items] == [("1", True), ("2", False), ("3", False), ("4", True)]
    assert [(r.line, r.field) for r in read.rejects] == [(5, "recommendable"), (6, "recommendable")]
    parquet = tmp_path / "items.parquet"
    frame = pd.DataFrame({"id": ["x", "y", "z"], "title": ["Cup", "Postage", "Plate"]})
    frame["recommendable"] = pd.array([True, False, None], dtype="boolean")  # a missing value is the default
    frame.to_parquet(parquet)
    assert [(i.id, i.recommendable) for i in read_catalog(parquet).items] == [("x", True), ("y", False), ("z", True)]


def test_online_retail_non_products_are_items_that_are_not_recommendable(tmp_path):
    path = tmp_path / "tx.csv"
    rows = [("1", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, 2.55), ("1", "POST", "POSTAGE", 1, 18.0),
            ("2", "C2", "CARRIAGE", 1, 50.0), ("3", "DCGSSGIRL", "GIRLS PARTY BAG", 1, 3.29),
            ("4", "AMAZONFEE", "AMAZON FEE", 1, 5.0)]  # fmt: skip
    pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "UnitPrice"]).to_csv(
        path, index=False
    )
    read = read_catalog(path)
    assert {i.id: i.recommendable for i in read.items} == {
        "85123A": True, "POST": False, "C2": False, "DCGSSGIRL": True, "AMAZONFEE": False}  # fmt: skip
    assert next(i for i in read.items if i.id == "POST").title == "POSTAGE"  # still indexed, searchable by name


def test_a_csv_line_with_too_many_fields_is_a_reject_and_the_rest_is_read(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "id,title,price\n"
        "A0,Red mug,1.0,oops\n"  # line 2: the first data line (pandas would read the file as an indexed one)
        "A1,Blue mug,2.0\n"
        "A2,Green, mug,3.0\n"  # line 4: an unquoted comma
        "A3,Pink mug,4.0\n"
    )
    read = read_catalog(path)
    assert [(i.id, i.title, i.price) for i in read.items] == [("A1", "Blue mug", 2.0), ("A3", "Pink mug", 4.0)]
    assert [str(r) for r in read.rejects] == [
        f"{path}:2: field '*': 4 fields where the header has 3",
        f"{path}:4: field '*': 4 fields where the header has 3",
    ]


def test_a_transactions_csv_line_with_too_many_fields_is_a_reject(tmp_path):
    path = tmp_path / "retail.csv"
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    path.write_text(
        f"{header}\n"
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26,2.55,17850,UK\n"
        "536365,71053,WHITE, METAL LANTERN,6,2010-12-01 08:26,3.39,17850,UK\n"  # line 3
        "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28,1.85,17850,UK\n"
    )
    read = read_catalog(path)
    assert [i.id for i in read.items] == ["85123A", "22633"]
    assert [(r.line, r.field) for r in read.rejects] == [(3, "*")]


@pytest.mark.parametrize(
    ("header", "mapping", "message"),
    [
        ("sku,name", None, "column 'id' for id not found (columns: name, sku); map it with --mapping id=COLUMN"),
        ("sku,name", "id=sku,title=nme", "no column 'nme' for title nor 'description' for description (columns: "
         "name, sku); map one with --mapping title=COLUMN"),
        ("sku,name", "id=sku,title=name,price=cost", "column 'cost' for price not found (columns: name, sku)"),
    ],
)  # fmt: skip
def test_missing_catalog_columns_are_named_with_the_columns_found(tmp_path, header, mapping, message):
    path = tmp_path / "items.csv"
    path.write_text(f"{header}\nA1,Red mug\n")
    with pytest.raises(CatalogError) as e:
        read_catalog(path, FieldMapping.parse(mapping))
    assert message in str(e.value) and str(e.value).startswith(f"{path}: field '")
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(json.dumps(dict(zip(header.split(","), ["A1", "Red mug"], strict=True))) + "\n")
    with pytest.raises(CatalogError, match="not found|no column"):
        read_catalog(jsonl, FieldMapping.parse(mapping))
