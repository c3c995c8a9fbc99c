"""The enrichment pipeline with a scripted LLM, the real grounding checks and the real SQLite cache."""

from __future__ import annotations

import pytest

from core.errors import GroundingFailure
from core.settings import StoreSettings
from core.store import open_store
from indexer.catalog import Item
from indexer.enrichment.cache import EnrichmentCache
from indexer.enrichment.enricher import Enricher, enriched_text
from indexer.enrichment.grounding import Grounded, ground_batch, parse_answer, verify_fields
from indexer.enrichment.prompt import load_prompt
from indexer.enrichment.taxonomy import load_taxonomy
from tests.fakes.embedder import HashEmbedder
from tests.fakes.llm import ScriptedLLM, answer


@pytest.fixture
def cache(tmp_path):
    engine = open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    return EnrichmentCache(engine, "scripted", "enrich-v2")


def make_enricher(llm, cache=None, attempts=2, threshold=0.3):
    return Enricher(llm, HashEmbedder(64), load_prompt(), cache, batch_size=2, threshold=threshold, attempts=attempts)


def ground(answer: str, title: str, embedder, threshold: float) -> Grounded:
    """One answer for an item titled ``title`` through the grounding checks; raises the failure."""
    result = ground_batch([answer], [Item("x", title)], load_taxonomy(), embedder, threshold)[0]
    if isinstance(result, GroundingFailure):
        raise result
    return result


MUG = Item("1", "RED ENAMEL MUG")
HEART = Item("2", "WHITE HANGING HEART T-LIGHT HOLDER")
BAG = Item("3", "JUMBO BAG RED RETROSPOT")


def test_grounded_answers_become_enrichments_and_attributes_are_cleaned(cache):
    llm = ScriptedLLM(
        {
            "RED ENAMEL MUG": [
                answer(
                    "A red mug made of enamel.",
                    colour="Red",
                    material=["enamel"],
                    category="mug and cup",
                    keywords=["mug", "red mug", "mug"],
                )
            ],
            "WHITE HANGING HEART T-LIGHT HOLDER": [
                answer(
                    "A white hanging heart holder for a t-light.",
                    colour="white",
                    material="glass",
                    keywords=["WHITE HANGING HEART T-LIGHT HOLDER"],
                )
            ],
        }
    )
    out = make_enricher(llm, cache).enrich([MUG, HEART])
    mug, heart = out["1"], out["2"]
    assert mug.ok and mug.description == "A red mug made of enamel."
    assert mug.attributes == {
        "category": "mug and cup", "colour": ["red"], "material": ["enamel"], "keywords": ["mug", "red mug"]
    }  # fmt: skip
    assert mug.model == "scripted" and mug.prompt_version == "enrich-v2" and not mug.cached
    assert heart.ok and heart.attributes == {"colour": ["white"]}  # glass is made up; the keyword repeats the title
    assert heart.dropped_fields == ["material 'glass': the source does not say it"]
    assert "red mug made of enamel" in enriched_text(MUG, mug).lower() and "RED ENAMEL MUG" in enriched_text(MUG, mug)
    assert llm.schemas[0]["properties"]["category"]["enum"][:2] == ["bag", "storage"]  # the taxonomy, as an enum


def test_unsupported_claims_are_retried_with_the_reason_then_dropped(cache):
    llm = ScriptedLLM({
        "RED ENAMEL MUG": [answer("A blue glass mug."), answer("A red enamel mug.")],  # fixed on the retry
        "JUMBO BAG RED RETROSPOT": ["no json here", answer("A wooden bag.", colour="blue")],  # nothing survives
    })  # fmt: skip
    enricher = make_enricher(llm, cache, attempts=2)
    out = enricher.enrich([MUG, BAG])
    assert out["1"].ok and out["1"].description == "A red enamel mug."
    assert not out["3"].ok and "wood" in out["3"].reason and "colour 'blue'" in out["3"].reason
    assert out["3"].description == ""
    assert enricher.stats.llm_calls == 2 and enricher.stats.accepted == 1 and enricher.stats.rejected == 1
    assert enriched_text(BAG, out["3"]) == BAG.text()  # a dropped enrichment never replaces the original


def test_cache_makes_a_second_run_call_no_llm_and_keys_on_content_model_and_prompt(cache, tmp_path):
    llm = ScriptedLLM({"RED ENAMEL MUG": [answer("A red enamel mug.")], "JUMBO BAG RED RETROSPOT": ["broken"]})
    make_enricher(llm, cache).enrich([MUG, BAG])
    calls = len(llm.calls)
    again = make_enricher(llm, cache).enrich([MUG, BAG])
    assert len(llm.calls) == calls  # no LLM call at all, rejected outcomes included
    assert again["1"].cached and again["1"].description == "A red enamel mug." and not again["3"].ok
    changed = Item("1", "RED ENAMEL MUG", description="Large")
    llm.answers["RED ENAMEL MUG"] = [answer("A large red enamel mug.")]
    assert not make_enricher(llm, cache).enrich([changed])["1"].cached  # new content hash -> new enrichment
    other_prompt = EnrichmentCache(cache.engine, "scripted", "enrich-v1")
    assert other_prompt.get_many([MUG.content_hash()]) == {}


def test_similarity_threshold_drops_drifting_descriptions():
    embedder = HashEmbedder(256)
    with pytest.raises(GroundingFailure, match="drifted"):
        ground(answer("A mug, made of enamel, red in design."), "RED ENAMEL MUG", embedder, 0.99)
    drifted = ground(answer("A mug, made of enamel, red in design.", colour="red"), "RED ENAMEL MUG", embedder, 0.99)
    assert drifted.description == "" and drifted.attributes == {"colour": ["red"]}  # the rest of the item stays
    ok = ground(answer("A red mug made of enamel."), "RED ENAMEL MUG", embedder, 0.3)
    assert ok.similarity >= 0.3


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Sure! Here it is", "no JSON object"),
        ('{"description": ', "not valid JSON"),
        (answer("RED ENAMEL MUG"), "only repeats the title"),
        (answer("a mug a mug a mug a mug a mug a mug a mug"), "repeats itself"),
        (answer(""), "no usable field"),
    ],
)
def test_answers_that_cannot_be_used_name_the_reason(text, reason):
    with pytest.raises(GroundingFailure, match=reason):
        ground(text, "RED ENAMEL MUG", HashEmbedder(), 0.0)


def test_parse_tolerates_fences_trailing_commas_and_truncation():
    assert parse_answer('```json\n{"description": "x", "keywords": ["a",],}\n```')["keywords"] == ["a"]
    cut = parse_answer('{"description": "A red mug.", "colour": "red", "keywords": ["mug", "cu')
    assert cut == {"description": "A red mug.", "colour": "red", "keywords": ["mug"]}


def test_nested_attributes_color_spelling_and_grey_gray():
    raw = {"attributes": {"color": "Gray", "material": "cotton", "occasion": "Xmas"}}
    _, attrs, dropped = verify_fields(raw, Item("1", "GREY COTTON CHRISTMAS BAGS"), load_taxonomy())
    assert attrs == {"colour": ["grey"], "material": ["cotton"], "occasion": ["christmas"]} and dropped == []
