"""The event model, content ids, the column mapping and the per-chunk checks (no database)."""

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest
from pydantic import ValidationError

from core.errors import InputError
from ranker.feedback.events import EventIn, LiveEventIn, event_id_for, ts_text
from ranker.feedback.mapping import EventMapping, check_chunk, check_rows
from ranker.feedback.sources import read_chunks


def _error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) or e["type"] for e in exc.errors()}


def test_event_in_names_the_bad_field():
    with pytest.raises(ValidationError) as e:
        EventIn(user_id="u1", item_id="A", type="Not A Type!")
    assert _error_fields(e.value) == {"type"}
    with pytest.raises(ValidationError) as e:
        EventIn(user_id="", item_id="A", type="view")
    assert _error_fields(e.value) == {"user_id"}
    with pytest.raises(ValidationError) as e:
        EventIn(user_id="u1", item_id="A", type="view", quantity=float("inf"))
    assert _error_fields(e.value) == {"quantity"}
    with pytest.raises(ValidationError) as e:
        EventIn(user_id="u1", type="purchase")
    assert "item_id is required for 'purchase' events" in str(e.value)
    with pytest.raises(ValidationError) as e:
        EventIn(user_id="u1", item_id="A", type="view", colour="red")
    assert _error_fields(e.value) == {"colour"}


def test_event_in_accepts_custom_types_numbers_and_search_without_item():
    e = EventIn(user_id=12347, item_id="85123A", type=" Wishlist ", ts="2011-01-02T03:04:05+02:00")
    assert (e.user_id, e.type) == ("12347", "wishlist")
    assert e.stored_ts() == datetime(2011, 1, 2, 1, 4, 5)  # converted to naive UTC
    search = EventIn(user_id="u1", type="search", query="red mug")
    assert search.item_id is None


def test_content_id_is_stable_and_depends_on_every_field():
    ts = datetime(2011, 1, 2, 3, 4, 5)
    a = EventIn(user_id="u", item_id="i", type="view", ts=ts)
    b = EventIn(user_id="u", item_id="i", type="view", ts=ts.replace(tzinfo=timezone(timedelta(0))))
    assert a.resolved_id(a.stored_ts()) == b.resolved_id(b.stored_ts())
    base = ("u", "i", "view", "2011-01-02 03:04:05.000000", 1.0, 2.0, "q", "s")
    ids = {event_id_for(*base)}
    for position, other in enumerate(("v", "j", "click", "2011-01-02 03:04:06.000000", 2.0, 3.0, "r", "t")):
        changed = list(base)
        changed[position] = other
        ids.add(event_id_for(*changed))
    assert len(ids) == 9
    assert EventIn(user_id="u", item_id="i", type="view", ts=ts, event_id="own").resolved_id(ts) == "own"


def test_mapping_parse_and_errors():
    m = EventMapping.parse("user_id=customer, item_id=sku,type='purchase'")
    assert (m.user_id, m.item_id, m.type, m.ts) == ("customer", "sku", "'purchase'", "ts")
    with pytest.raises(InputError, match="bad event mapping 'colour=x'"):
        EventMapping.parse("colour=x")


def test_check_chunk_reports_line_field_and_reason():
    frame = pd.DataFrame(
        {
            "line": [2, 3, 4, 5, 6, 7, 8],
            "user_id": ["u1", "", "u3", "u4", "u5", "u6", "u7"],
            "item_id": ["A", "B", "", "D", "E", "F", ""],
            "type": ["view", "view", "click", "Bad Type", "purchase", "purchase", "search"],
            "ts": [
                "2011-01-01T10:00:00",
                "2011-01-01",
                "2011-01-01",
                "2011-01-01",
                "yesterday",
                "2011-01-01",
                "2011-01-01",
            ],
            "quantity": ["1", "", "", "", "", "two", ""],
        }
    )
    rows, rejects = check_chunk(frame, "events.csv")
    assert [(r.line, r.field) for r in rejects] == [
        (3, "user_id"),
        (4, "item_id"),
        (5, "type"),
        (6, "ts"),
        (7, "quantity"),
    ]
    assert str(rejects[-1]) == "events.csv:7: field 'quantity': not a number: 'two'"
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("u1", "A", "view", "2011-01-01 10:00:00.000000", 1.0),
        ("u7", "", "search", "2011-01-01 00:00:00.000000", None),
    ]


def test_online_retail_purchases_skip_cancellations_and_anonymous_lines(tmp_path):
    path = tmp_path / "retail.parquet"
    pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "C536379", "536380", "536381"],
            "StockCode": ["85123a", "71053", "D", "22423", "22423"],
            "Description": ["HEART", "LANTERN", "Discount", "CAKESTAND", "CAKESTAND"],
            "Quantity": [6.0, 2.0, -1.0, 1.0, -3.0],
            "InvoiceDate": pd.to_datetime(["2010-12-01 08:26"] * 5),
            "UnitPrice": [2.55, 3.39, 27.5, 12.75, 12.75],
            "CustomerID": pd.array([17850, 17850, 14527, None, 13000], dtype="Int64"),
            "Country": ["United Kingdom"] * 5,
        }
    ).to_parquet(path)
    (chunk,) = read_chunks(path, "parquet", EventMapping(), 100)
    assert chunk.rows_read == 5
    assert dict(chunk.skipped) == {"cancellation": 1, "no customer": 1, "quantity <= 0": 1}
    rows, rejects = check_chunk(chunk.frame, str(path))
    assert rejects == []
    assert [(r[1], r[2], r[3], r[5], r[6], r[8]) for r in rows] == [
        ("17850", "85123A", "purchase", 6.0, 15.3, "536365"),
        ("17850", "71053", "purchase", 2.0, 6.78, "536365"),
    ]


def test_ubi_events_map_to_types_users_and_items(tmp_path):
    path = tmp_path / "ubi.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"action_name": "product_click", "client_id": "c1", "query_id": "q1",'
                ' "timestamp": "2024-05-01T10:00:00Z",'
                ' "event_attributes": {"object": {"object_id": "SKU-1", "object_id_field": "sku"},'
                ' "session_id": "s1"}}',
                '{"_id": "doc-7", "_source": {"action_name": "add_to_cart", "user_id": "u9", "client_id": "c9",'
                ' "timestamp": "2024-05-01T10:01:00Z", "event_attributes": {"object": {"object_id": "SKU-2"}}}}',
                '{"action_name": "on_search", "client_id": "c1", "timestamp": "2024-05-01T09:59:00Z",'
                ' "message": "red mug"}',
                '{"action_name": "login", "client_id": "c1", "timestamp": "2024-05-01T09:58:00Z"}',
                "not json",
            ]
        )
        + "\n"
    )
    (chunk,) = read_chunks(path, "ubi", EventMapping(), 100)
    assert dict(chunk.skipped) == {"UBI event without an object": 1}
    assert chunk.frame["__error__"].notna().sum() == 1
    frame = chunk.frame[chunk.frame["__error__"].isna()]
    rows, rejects = check_chunk(frame, str(path))
    assert rejects == []
    got = [(r[0] if r[0] == "doc-7" else "hash", r[1], r[2], r[3], r[7], r[8]) for r in rows]
    assert got == [
        ("hash", "c1", "SKU-1", "click", None, "s1"),
        ("doc-7", "u9", "SKU-2", "add_to_cart", None, None),
        ("hash", "c1", "", "search", "red mug", None),
    ]


def test_missing_required_column_names_it(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("customer,sku,when\n1,A,2011-01-01\n")
    with pytest.raises(InputError, match="column 'user_id' for user_id not found .* --mapping user_id=COLUMN"):
        list(read_chunks(path, "csv", EventMapping(), 10))
    (chunk,) = read_chunks(path, "csv", EventMapping.parse("user_id=customer,item_id=sku,ts=when,type='view'"), 10)
    rows, _ = check_chunk(chunk.frame, str(path))
    assert [(r[1], r[2], r[3]) for r in rows] == [("1", "A", "view")]
    assert chunk.frame["line"].tolist() == [2]


def test_chunk_content_ids_are_event_id_for_of_each_row():
    # The import computes ids column-wise; they must be the ids that ingest and the service compute row by row.
    frame = pd.DataFrame(
        {
            "line": [2, 3, 4, 5, 6],
            "user_id": ["17850", "17850", "  u2 ", "u3", "u3"],
            "item_id": ["A", "A", "", "B", "B"],
            "type": ["PURCHASE", "purchase", "search", "view", "view"],
            "ts": ["2011-01-01T10:00", "2011-01-01T10:00", "2011-01-01T10:00:00.5+01:00", "2011-01-02", "2011-01-02"],
            "quantity": [6, None, None, 0.1, 0.1],
            "value": [15.3, 0.0, None, -0.0, 1e-7],
            "query": [None, None, "red mug", None, None],
            "session_id": ["536365", "536365", None, None, None],
            "event_id": [None, None, None, None, "own-1"],
        }
    )
    rows, rejects = check_chunk(frame, "e.csv")
    assert not rejects and len(rows) == 5
    for row in rows[:4]:
        assert row[0] == event_id_for(*row[1:9])
    assert rows[0][1:3] == ("17850", "A") and rows[0][3] == "purchase" and rows[0][0] != rows[1][0]
    assert rows[2][4] == "2011-01-01 09:00:00.500000" and rows[2][7] == "red mug" and rows[2][8] is None
    assert rows[4][0] == "own-1"


def test_text_columns_convert_per_value_and_keep_json_numbers_apart():
    from ranker.feedback.mapping import _text

    assert _text(pd.Series([17850.0, None, 12347.0, 17850.0])).tolist() == ["17850", "", "12347", "17850"]
    assert _text(pd.Series([" a", "b ", None, " a"], dtype="string")).tolist() == ["a", "b", "", "a"]
    # JSON values of mixed types: 1 and 1.0 are equal as keys but different texts
    assert _text(pd.Series([1, 1.0, "1", None], dtype=object)).tolist() == ["1", "1.0", "1", ""]


def test_online_retail_parquet_reads_only_the_columns_it_maps(tmp_path):
    path = tmp_path / "retail.parquet"
    columns = {
        "InvoiceNo": ["536365"], "StockCode": ["85123a "], "Description": ["MUG"], "Quantity": [6.0],
        "InvoiceDate": pd.to_datetime(["2010-12-01 08:26"]), "UnitPrice": [2.55], "CustomerID": [17850],
        "Country": ["UK"],
    }  # fmt: skip
    pd.DataFrame(columns).to_parquet(path)
    from ranker.feedback.sources import ONLINE_RETAIL_COLUMNS, _table_chunks

    ((raw, broken),) = _table_chunks(path, "parquet", 10, ONLINE_RETAIL_COLUMNS)
    assert broken == []
    assert set(raw.columns) == ONLINE_RETAIL_COLUMNS | {"line"}
    (chunk,) = read_chunks(path, "parquet", EventMapping(), 10)
    assert chunk.frame[["user_id", "item_id", "quantity", "value"]].values.tolist() == [["17850", "85123A", 6.0, 15.3]]


def test_event_times_are_bounded_and_converted_to_utc_inside_validation():
    for bad in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00", "0999-06-01T00:00:00", "2300-01-01"):
        with pytest.raises(ValidationError) as e:
            EventIn(user_id="u", item_id="i", type="view", ts=bad)
        assert _error_fields(e.value) == {"ts"}, bad
    soon = datetime.now(UTC) + timedelta(hours=23)
    with pytest.raises(ValidationError) as e:
        EventIn(user_id="u", item_id="i", type="view", ts=soon + timedelta(days=1))
    assert _error_fields(e.value) == {"ts"}
    assert EventIn(user_id="u", item_id="i", type="view", ts=soon).stored_ts() == soon.replace(tzinfo=None)
    assert EventIn(user_id="u", item_id="i", type="view", ts="1970-01-01T00:00:00Z").stored_ts() == datetime(1970, 1, 1)


def test_stored_time_text_is_zero_padded():
    assert ts_text(datetime(999, 6, 1, 2, 3, 4)) == "0999-06-01 02:03:04.000000"
    assert ts_text(datetime(2011, 1, 2, 3, 4, 5, 6)) == "2011-01-02 03:04:05.000006"


def test_live_events_need_an_event_id_or_a_time():
    with pytest.raises(ValidationError) as e:
        LiveEventIn(user_id="u", item_id="i", type="purchase")
    assert _error_fields(e.value) == {"ts"} and "event_id" in str(e.value)
    assert LiveEventIn(user_id="u", item_id="i", type="purchase", event_id="order-1").ts is None
    assert LiveEventIn(user_id="u", item_id="i", type="purchase", ts="2011-01-01").ts == datetime(2011, 1, 1)
    assert EventIn(user_id="u", item_id="i", type="purchase").ts is None  # the library keeps its receive-time default


def test_nul_characters_are_refused_on_the_api_model_and_rejected_in_files():
    for name in ("event_id", "user_id", "item_id", "query", "session_id"):
        fields = {"user_id": "u", "item_id": "i", "type": "search", name: "a\x00b"}
        with pytest.raises(ValidationError) as e:
            EventIn(**fields)
        assert _error_fields(e.value) == {name}
    frame = pd.DataFrame(
        {
            "line": [2, 3, 4, 5],
            "user_id": ["u\x00", "u", "u", "u"],
            "item_id": ["A", "B\x00", "C", "D"],
            "type": ["view", "view", "search", "view"],
            "ts": ["2011-01-01"] * 4,
            "query": ["", "", "red\x00", ""],
        }
    )
    rows, rejects = check_chunk(frame, "e.csv")
    assert [(r.line, r.field, r.reason) for r in rejects] == [
        (2, "user_id", "contains a NUL character"),
        (3, "item_id", "contains a NUL character"),
        (4, "query", "contains a NUL character"),
    ]
    assert [r[2] for r in rows] == ["D"]


def test_file_times_outside_the_window_are_rejected_rows():
    later = datetime.now(UTC) + timedelta(days=2)
    frame = pd.DataFrame(
        {
            "line": [2, 3, 4, 5, 6],
            "user_id": ["u"] * 5,
            "item_id": ["A", "B", "C", "D", "E"],
            "type": ["view"] * 5,
            "ts": ["0999-06-01", "1969-12-31T23:59:59", "2300-01-01", later.isoformat(), "2011-01-01T00:00:00+01:00"],
        }
    )  # fmt: skip
    rows, rejects = check_chunk(frame, "e.csv")
    assert [(r.line, r.field) for r in rejects] == [(2, "ts"), (3, "ts"), (4, "ts"), (5, "ts")]
    assert "not between 1970-01-01 and one day from now" in rejects[0].reason
    assert [(r[2], r[4]) for r in rows] == [("E", "2010-12-31 23:00:00.000000")]


@pytest.mark.parametrize("chunk_rows", [1, 2, 50])
def test_csv_lines_with_too_many_fields_are_rejected_with_their_line_and_the_rest_is_read(tmp_path, chunk_rows):
    path = tmp_path / "e.csv"
    path.write_text(
        "user_id,item_id,type,ts\n"
        "u1,A,view,2011-01-01,extra\n"  # 2: the first data line (pandas would take the file for an indexed one)
        "u1,B,view,2011-01-02\n"  # 3
        "u1,C,view,2011-01-03,x,y\n"  # 4
        "u1,D,view,2011-01-04\n"  # 5
        "u1,E,view,2011-01-05\n"  # 6
        "u1,F,view,2011-01-06,z\n"  # 7: the last line
    )
    chunks = list(read_chunks(path, "csv", EventMapping(), chunk_rows))
    stored, rejects = [], []
    for chunk in chunks:
        rows, bad = check_rows(chunk.frame, str(path))
        stored += rows
        rejects += bad
    assert [r[2] for r in stored] == ["B", "D", "E"]
    assert [(r.line, r.field, r.reason) for r in rejects] == [
        (2, "*", "5 fields where the header has 4"),
        (4, "*", "6 fields where the header has 4"),
        (7, "*", "5 fields where the header has 4"),
    ]
    assert sum(c.rows_read for c in chunks) == 6
    frames = [c.frame if "__error__" in c.frame else c.frame.assign(__error__=None) for c in chunks]
    assert [line for f in frames for line in f["line"][f["__error__"].isna()]] == [3, 5, 6]
