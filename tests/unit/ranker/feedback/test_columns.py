"""Events read into compact columns: the same events and order as the frame of strings, one event per event id as
the store keeps, the catalog's items and the newest-events cap applied while reading."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from core.settings import EventsSettings, Settings, StoreSettings
from core.store import open_store
from ranker.feedback.columns import EventColumns, EventFilter
from ranker.feedback.events import EventIn
from ranker.feedback.frames import events_frame, load_events, read_event_file
from ranker.feedback.profiles import ProfileStore
from tests.builders.event_frames import string_frame_read
from tests.paths import DATA


def _settings(tmp_path) -> Settings:
    return Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"), state_dir=tmp_path / "state",
                    events=EventsSettings(batch_size=500))  # fmt: skip


@pytest.fixture(scope="module")
def retail_file(tmp_path_factory):
    """6,000 lines of the real Online Retail file, with 300 of them repeated further down (the same event ids)."""
    lines = pd.read_parquet(DATA).iloc[:6000]
    lines = pd.concat([lines, lines.iloc[1000:1300]], ignore_index=True)
    path = tmp_path_factory.mktemp("retail") / "retail.parquet"
    lines.to_parquet(path, row_group_size=700)
    return path


def test_the_compact_read_is_the_frame_of_strings_in_codes(retail_file):
    want = string_frame_read(retail_file)
    plain = read_event_file(retail_file, chunk_rows=500)
    assert plain.repeated >= 300
    pd.testing.assert_frame_equal(plain.frame, want)
    compact = read_event_file(retail_file, chunk_rows=500, compact=True).frame
    for c in ("user_id", "item_id", "type"):
        assert isinstance(compact[c].dtype, pd.CategoricalDtype)
        assert compact[c].cat.categories.is_monotonic_increasing  # codes sort as the ids do
        assert compact[c].cat.codes.min() >= 0 and compact[c].nunique() == len(compact[c].cat.categories)
    assert compact["quantity"].dtype == np.float32 and compact["value"].dtype == np.float32
    assert compact.memory_usage(deep=True).sum() < 0.6 * want.memory_usage(deep=True).sum()  # less at scale
    back = compact.astype({"user_id": str, "item_id": str, "type": str, "quantity": float, "value": float})
    pd.testing.assert_frame_equal(back, want, check_exact=False, rtol=1e-6)


def test_items_outside_the_table_are_left_out_while_reading(retail_file, tmp_path):
    want = string_frame_read(retail_file)
    some = sorted(set(want["item_id"]))[::3]
    got = load_events(_settings(tmp_path), retail_file, items=some, compact=True)
    assert set(got["item_id"].cat.categories) <= set(some)
    kept = want[want["item_id"].isin(some)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["user_id", "item_id", "ts"]].astype(str), kept[["user_id", "item_id", "ts"]]
                                  .astype(str))  # fmt: skip


def _chunk(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["event_id", "user_id", "item_id", "type", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    frame["quantity"], frame["value"], frame["in_catalog"] = np.nan, np.nan, True
    return frame


def _read(chunks: list[list[tuple]], keep: EventFilter) -> list[str]:
    gathered, seq = EventColumns(keep, dedup=True), 0
    for rows in chunks:
        frame = _chunk(rows)
        frame["seq"] = range(seq, seq + len(frame))
        seq += len(frame)
        gathered.add(frame)
    return gathered.frame(["user_id", "item_id"]).apply("/".join, axis=1).tolist()


def test_an_event_id_is_kept_once_by_its_first_row_before_any_filter():
    first = [("e1", "u1", "GONE", "purchase", "2024-01-01"), ("e2", "u1", "A", "purchase", "2024-01-02")]
    # e1 again, now naming a table item, and after the cutoff: the store keeps the first row (outside the table).
    later = [("e1", "u2", "A", "purchase", "2024-01-03"), ("e3", "u2", "B", "view", "2024-01-04")]
    assert _read([first, later], EventFilter(items=["A", "B"])) == ["u1/A", "u2/B"]
    assert _read([first, later], EventFilter(until=datetime(2024, 1, 3))) == ["u1/GONE", "u1/A"]


def test_the_cap_keeps_the_newest_events_of_every_user():
    rows = [(f"e{n}", f"u{n % 3}", f"i{n}", "purchase", f"2024-01-{1 + n % 28:02d}") for n in range(60)]
    rows += [("e5", "u9", "i99", "purchase", "2024-02-01")]  # a repeated id: left out, not counted in the cap
    chunks = [rows[i : i + 7] for i in range(0, len(rows), 7)]  # trimmed several times while reading
    got = _read(chunks, EventFilter(max_events=10))
    newest = sorted(rows[:60], key=lambda r: (r[4], int(r[0][1:])))[-10:]
    want = [f"{u}/{i}" for _, u, i, _, _ in sorted(newest, key=lambda r: (r[1], r[4], int(r[0][1:])))]
    assert got == want
    assert _read(chunks, EventFilter(max_events=1000)) == _read(chunks, EventFilter())


def test_the_store_read_in_pages_is_the_same_frame(tmp_path):
    settings = _settings(tmp_path)
    engine = open_store(settings.store)
    events = [EventIn(user_id=f"u{n % 7}", item_id=f"i{n % 11}", type="purchase" if n % 2 else "view",
                      ts=datetime(2024, 1, 1 + n % 20)) for n in range(120)]  # fmt: skip
    ProfileStore(engine, settings).ingest(events)
    whole = events_frame(engine, page_rows=1_000)
    assert len(whole) == 120
    pd.testing.assert_frame_equal(events_frame(engine, page_rows=7), whole)
    compact = events_frame(engine, page_rows=7, compact=True)
    pd.testing.assert_frame_equal(compact[["user_id", "item_id", "type"]].astype(str), whole[["user_id", "item_id",
                                                                                              "type"]])  # fmt: skip
    capped = load_events(settings, max_events=30, compact=True)
    assert len(capped) == 30 and capped["ts"].min() >= whole["ts"].sort_values().iloc[-30]
