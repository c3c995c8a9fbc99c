"""One reading of an event file for every command: `feedback import` + the store, the file read directly, and what
`train`, `evaluate` and `finetune` get with `--events FILE` or from the store are the same events frame."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from cli.main import run
from core.errors import InputError
from core.settings import EventsSettings, Settings, StoreSettings, get_settings
from core.store import open_store
from ranker.evaluation.catalog import IndexSnapshot
from ranker.feedback.catalog_sync import SetCatalog
from ranker.feedback.events import EventIn
from ranker.feedback.frames import FRAME_COLUMNS, events_frame, events_frame_from_file, load_events, read_event_file
from ranker.feedback.importer import import_events
from ranker.feedback.profiles import ProfileStore
from tests.paths import DATA


@pytest.fixture(scope="module")
def retail_sample(tmp_path_factory) -> dict[str, object]:
    """~390 lines of the real Online Retail file as CSV and Parquet: cancellations, lines without a customer,
    repeated lines, lower-case stock codes, and two lines of a customer edited to a zero and a negative quantity."""
    frame = pd.read_parquet(DATA)
    rows = set(range(0, 250)) | set(range(480, 530)) | set(range(5365, 5445)) | {622, 1443, 1444, 2406, 4347}
    sample = frame.iloc[sorted(rows)].reset_index(drop=True)
    sample.loc[10, "Quantity"], sample.loc[11, "Quantity"] = 0.0, -3.0  # the file has none with a customer
    invoice = sample["InvoiceNo"].astype(str)
    assert invoice.str.startswith("C").any() and sample["CustomerID"].isna().any()
    assert sample.duplicated().any() and sample["StockCode"].str.contains("[a-z]").any()
    folder = tmp_path_factory.mktemp("retail")
    sample.to_parquet(folder / "sample.parquet")
    sample.to_csv(folder / "sample.csv", index=False)
    return {"parquet": folder / "sample.parquet", "csv": folder / "sample.csv", "lines": sample}


def _settings(tmp_path, name: str = "store.db") -> Settings:
    return Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / name}"), state_dir=tmp_path / "state",
                    events=EventsSettings(batch_size=100))  # fmt: skip


class _Captured(Exception):
    def __init__(self, events: pd.DataFrame):
        self.events = events


def _capture(*args, **kwargs):
    events = kwargs.get("events", args[0] if args and isinstance(args[0], pd.DataFrame) else None)
    if events is None:  # finetune(settings, events, ...)
        events = args[1]
    raise _Captured(events)


@pytest.fixture
def heavy_parts_faked(monkeypatch):
    """The index, the embedder and the fitting replaced; the events each command reads are captured."""
    catalog = IndexSnapshot(["85123A"], ["WHITE HANGING HEART T-LIGHT HOLDER"], np.ones((1, 4), dtype=np.float32))
    import core.opensearch.client
    import ranker.evaluation.api
    import ranker.evaluation.catalog
    import ranker.evaluation.reembed
    import ranker.finetune.loop
    import ranker.training.api

    monkeypatch.setattr(ranker.training.api, "fit", _capture)
    monkeypatch.setattr(ranker.finetune.loop, "finetune", _capture)
    monkeypatch.setattr(ranker.evaluation.api, "run_evaluation", _capture)
    for module in (ranker.evaluation.api, core.opensearch.client):
        monkeypatch.setattr(module, "make_client", lambda *a, **k: None)
    for module in (ranker.evaluation.api, ranker.evaluation.catalog):
        monkeypatch.setattr(module, "load_catalog", lambda *a, **k: catalog)
    for module in (ranker.evaluation.api, ranker.evaluation.reembed):
        monkeypatch.setattr(module, "cached_embedder", lambda *a, **k: None)
    monkeypatch.setattr(ranker.evaluation.api, "OpenSearchItems", lambda *a, **k: None)
    import core.opensearch.documents as documents

    texts = {"enriched_text": [""], "text": [catalog.texts[0]], "title": [catalog.texts[0]]}
    monkeypatch.setattr(documents, "read_items", lambda *a, **k: documents.ItemDocuments("v1", {}, catalog.ids, texts))


def _entry_point_events(settings: Settings, path, items: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The events `recadmin train`, `evaluate` and `finetune` hand on, read through their own library calls;
    training's item table holds ``items`` (default: every stored item), and its compact frame comes back as strings
    (:func:`_as_strings`)."""
    from ranker.evaluation.api import EvaluateRequest, evaluate
    from ranker.finetune.loop import finetune_from_settings
    from ranker.model import ItemVectors
    from ranker.training.api import train_and_register

    if items is None:
        items = sorted(set(events_frame(open_store(settings.store))["item_id"]))
    table = ItemVectors.from_arrays(items, np.ones((len(items), 4), dtype=np.float32))
    calls = {
        "train": lambda: train_and_register(settings, events_file=path, items=table),
        "evaluate": lambda: evaluate(settings, EvaluateRequest(events=path)),
        "finetune": lambda: finetune_from_settings(settings, events_path=path),
    }
    got = {}
    for name, call in calls.items():
        with pytest.raises(_Captured) as captured:
            call()
        got[name] = captured.value.events
    assert isinstance(got["train"]["user_id"].dtype, pd.CategoricalDtype) and got["train"]["value"].dtype == np.float32
    got["train"] = _as_strings(got["train"])
    return got


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """A compact events frame (categorical ids and types, float32 numbers) as the frame of strings and float64."""
    out = frame.copy()
    for c in ("user_id", "item_id", "type"):
        out[c] = out[c].astype(str)
    return out.astype({"quantity": float, "value": float})


def _same_events(got: pd.DataFrame, want: pd.DataFrame, name: str) -> None:
    """Equal frames; a compact frame's float32 numbers within float32's precision."""
    pd.testing.assert_frame_equal(got, want, obj=name, check_exact=False, rtol=1e-6)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_one_file_gives_the_same_events_through_every_path(retail_sample, tmp_path, heavy_parts_faked, kind):
    path = retail_sample[kind]
    settings = _settings(tmp_path)
    engine = open_store(settings.store)
    imported = import_events(engine, settings, path)  # batches of 100 lines: repeats across batches too
    assert imported.batches > 1 and imported.rejected == 0
    assert set(imported.skipped) == {"cancellation", "no customer", "quantity <= 0"}
    stored = events_frame(engine)
    assert list(stored.columns) == FRAME_COLUMNS and len(stored) == imported.events_added
    assert imported.already_stored > 0  # the repeated lines, stored once

    read = read_event_file(path)
    pd.testing.assert_frame_equal(read.frame, stored)
    assert (read.rows_read, dict(read.skipped), read.repeated) == (
        imported.rows_read, imported.skipped, imported.already_stored)  # fmt: skip
    lower = retail_sample["lines"]["StockCode"][retail_sample["lines"]["StockCode"].str.contains("[a-z]")]
    assert set(lower.str.upper()) & set(stored["item_id"]) and not stored["item_id"].str.contains("[a-z]").any()

    for name, events in _entry_point_events(settings, path).items():  # --events FILE
        _same_events(events, stored, name)
    for name, events in _entry_point_events(settings, None).items():  # the store
        _same_events(events, stored, name)


def test_csv_and_parquet_of_the_same_lines_are_the_same_events(retail_sample):
    pd.testing.assert_frame_equal(events_frame_from_file(retail_sample["csv"]),
                                  events_frame_from_file(retail_sample["parquet"]))  # fmt: skip


def test_each_command_keeps_what_it_needs(tmp_path, heavy_parts_faked):
    settings = _settings(tmp_path)
    engine = open_store(settings.store)
    ProfileStore(engine, settings, catalog=SetCatalog({"A", "B"})).ingest([
        EventIn(user_id="u1", item_id="A", type="purchase", ts=datetime(2024, 1, 1)),
        EventIn(user_id="u1", item_id="B", type="view", ts=datetime(2024, 1, 2)),
        EventIn(user_id="u1", item_id="GONE", type="purchase", ts=datetime(2024, 1, 3)),  # flagged: not in catalog
        EventIn(user_id="u1", type="search", query="mug", ts=datetime(2024, 1, 4)),  # no item: in no frame
    ])  # fmt: skip
    got = _entry_point_events(settings, None, items=["A", "B", "GONE", "OTHER"])
    assert got["train"]["item_id"].tolist() == ["A", "B", "GONE"]  # training sees every event type and item...
    got = _entry_point_events(settings, None, items=["B", "GONE"])
    assert got["train"]["item_id"].tolist() == ["B", "GONE"]  # ... of its item table, left out while reading
    for name in ("evaluate", "finetune"):  # RECSEARCH_EVAL_EVENT_TYPES of catalog items
        assert got[name]["item_id"].tolist() == ["A"], name
    assert load_events(settings, until="2024-01-02")["item_id"].tolist() == ["A"]


def test_until_and_types_apply_to_a_file_as_to_the_store(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,type,ts\nu1,A,view,2024-01-01\nu1,B,purchase,2024-01-02T10:00:00+02:00\n")
    settings = _settings(tmp_path)
    import_events(open_store(settings.store), settings, path)
    for source in (path, None):
        assert load_events(settings, source, types=["purchase"])["ts"].tolist() == [pd.Timestamp("2024-01-02 08:00")]
        assert load_events(settings, source, until="2024-01-02 08:00")["item_id"].tolist() == ["A"]
        with pytest.raises(InputError, match="no events of type click"):
            load_events(settings, source, types=["click"])


def test_a_mapping_and_a_format_read_as_the_importer_reads_them(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text("who,sku,at\n1,a,2024-01-01\n2,b,2024-01-02\n")
    frame = load_events(_settings(tmp_path), path, mapping="user_id=who,item_id=sku,ts=at,type='click'")
    assert frame[["user_id", "item_id", "type"]].values.tolist() == [["1", "a", "click"], ["2", "b", "click"]]
    ubi = tmp_path / "ubi.jsonl"
    ubi.write_text('{"action_name": "product_click", "client_id": "c1", "timestamp": "2024-05-01T10:00:00Z", '
                   '"event_attributes": {"object": {"object_id": "SKU-1"}}}\n')  # fmt: skip
    assert events_frame_from_file(ubi, "ubi")[["user_id", "item_id", "type"]].values.tolist() == [
        ["c1", "SKU-1", "click"]]  # fmt: skip


def test_bad_input_is_one_error_naming_file_line_and_field(tmp_path):
    settings = _settings(tmp_path)
    with pytest.raises(InputError, match=r"nope\.csv: event file does not exist"):
        load_events(settings, tmp_path / "nope.csv")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"broken\.parquet: cannot parse event file as parquet"):
        load_events(settings, broken)
    partial = tmp_path / "partial.csv"
    pd.DataFrame({"InvoiceNo": ["1"], "StockCode": ["A"], "Quantity": [1]}).to_csv(partial, index=False)
    with pytest.raises(InputError, match=r"partial\.csv: not Online Retail transactions: no column CustomerID"):
        load_events(settings, partial, fmt="online-retail")
    no_ts = tmp_path / "no_ts.csv"
    no_ts.write_text("user_id,item_id,type\n1,a,view\n")
    with pytest.raises(InputError, match=r"no_ts\.csv: field 'ts': column 'ts' for ts not found \(columns: item_id, "
                                         r"type, user_id\)"):  # fmt: skip
        load_events(settings, no_ts)
    rejected = tmp_path / "rejected.csv"
    rejected.write_text("user_id,item_id,type,ts\n1,a,view,yesterday\n,b,view,2024-01-01\n")
    with pytest.raises(InputError) as e:
        load_events(settings, rejected)
    assert str(e.value) == (f"{rejected}: no events (2 of 2 rows rejected; the first: {rejected}:2: field 'ts': "
                            "missing or unreadable time: 'yesterday')")  # fmt: skip
    with pytest.raises(InputError, match="no events in the store: import events first, or pass --events FILE"):
        load_events(settings)  # a store no event was ever imported into


def test_a_bad_events_file_is_one_error_line_from_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RECSEARCH_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    get_settings.cache_clear()
    bad = tmp_path / "events.csv"
    bad.write_text("user_id,item_id,type,ts\n1,a,view,yesterday\n")
    # Training reads the item table first (it keeps only its items' events while reading the file).
    from ranker.model import ItemVectors

    table = ItemVectors.from_arrays(["a"], np.ones((1, 4), dtype=np.float32))
    monkeypatch.setattr(ItemVectors, "from_index", classmethod(lambda cls, *a, **k: table))
    try:
        assert run(["train", "--events", str(bad)]) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"{bad}:2: field 'ts': missing or unreadable time" in err
