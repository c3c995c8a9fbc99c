"""The model registry in a real SQLite store, and `recadmin models list|activate`."""

from __future__ import annotations

import pytest

from cli.main import run
from core.errors import InputError, ModelError
from core.settings import StoreSettings, get_settings
from core.store import open_store
from ranker.model import registry


@pytest.fixture
def engine(tmp_path):
    return open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))


def checkpoint_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"weights")
    return path


def test_versions_are_numbered_listed_and_one_is_active(engine, tmp_path):
    assert registry.next_version(engine) == "v1" and registry.active_version(engine) is None
    registry.register(engine, "v1", checkpoint_file(tmp_path, "a.pt"), {"val_ndcg@10": 0.3}, activate=True)
    assert registry.next_version(engine) == "v2"
    registry.register(engine, "v2", checkpoint_file(tmp_path, "b.pt"), {"val_ndcg@10": 0.4}, {"seconds": 9})
    versions = registry.list_versions(engine)
    assert [(v.version, v.active) for v in versions] == [("v1", True), ("v2", False)]
    assert versions[1].metrics == {"val_ndcg@10": 0.4} and versions[1].info == {"seconds": 9}
    registry.activate_version(engine, "v2")
    assert registry.active_version(engine).version == "v2"
    assert [v.active for v in registry.list_versions(engine)] == [False, True]


def test_bad_activations_change_nothing(engine, tmp_path):
    registry.register(engine, "v1", checkpoint_file(tmp_path, "a.pt"), {}, activate=True)
    registry.register(engine, "v2", tmp_path / "gone.pt", {})
    with pytest.raises(InputError, match="no ranker version 'v9' \\(registered: v1, v2\\)"):
        registry.activate_version(engine, "v9")
    with pytest.raises(ModelError, match="checkpoint .*gone.pt is missing"):
        registry.activate_version(engine, "v2")
    with pytest.raises(ModelError, match="already registered"):
        registry.register(engine, "v1", tmp_path / "a.pt", {})
    assert registry.active_version(engine).version == "v1"


def test_load_active_without_versions_says_how_to_get_one(engine):
    with pytest.raises(ModelError, match="recadmin train"):
        registry.load_active(engine)


@pytest.fixture
def cli_store(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RECSEARCH_STORE_URL", url)
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield open_store(StoreSettings(url=url))
    get_settings.cache_clear()


def test_models_cli_lists_and_activates(cli_store, tmp_path, capsys):
    assert run(["models", "list"]) == 0
    assert "no ranker versions yet" in capsys.readouterr().out
    registry.register(cli_store, "v1", checkpoint_file(tmp_path, "a.pt"), {"val_ndcg@10": 0.25, "val_hr@10": 0.5})
    registry.register(cli_store, "v2", checkpoint_file(tmp_path, "b.pt"), {"val_ndcg@10": 0.5})
    assert run(["models", "activate", "v2"]) == 0
    assert "ranker v2 is active" in capsys.readouterr().out
    assert run(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "0.2500" in listing and "0.5000" in listing
    rows = [[cell.strip() for cell in line.split("│")[1:3]] for line in listing.splitlines() if "│" in line]
    assert ["*", "v2"] in rows and ["", "v1"] in rows
    assert run(["models", "activate", "v7"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and "no ranker version 'v7'" in err


def test_train_without_events_is_one_clear_line(cli_store, tmp_path, capsys):
    assert run(["train"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "import events first, or pass --events FILE" in err
    assert run(["train", "--events", str(tmp_path / "missing.parquet")]) == 1
    assert "missing.parquet: event file does not exist" in capsys.readouterr().err
