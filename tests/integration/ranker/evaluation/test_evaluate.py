"""`recadmin evaluate` and `recadmin finetune` on a small real slice: the real OpenSearch node, real SQLite-free
event files, the real attention trainer and scorer, real MiniLM for fine-tuning."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.errors import IndexMissing, InputError
from indexer import api
from ranker.evaluation import EvaluateRequest, evaluate
from ranker.evaluation.catalog import OpenSearchItems, load_catalog
from tests.builders.retail import best_sellers_slice
from tests.paths import DATA

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def retail_slice(tmp_path_factory):
    """The 250 best-selling stock codes of Online Retail and the purchases of them (transactions file)."""
    return best_sellers_slice(tmp_path_factory.mktemp("retail") / "slice.parquet", 250)


#: A small sequence model: these tests are about the evaluation, not about its quality.
SEQUENCE = {"dim": 16, "layers": 1, "max_length": 20, "epochs": 2, "validation_examples": 300}


def test_evaluate_the_baselines_and_the_attention_ranker_on_the_real_index(settings, minilm, retail_slice):
    from ranker.evaluation.attention import attention_factory

    # Real MiniLM vectors: the personalized-search protocol embeds its queries with the index's model.
    api.build_from_catalog(settings, retail_slice, embedder=minilm)
    s = settings.model_copy(update={"evaluation": settings.evaluation.model_copy(update={
        "max_users": 40, "bootstrap_samples": 100, "ranker_epochs": 1, "ranker_train_examples": 2000,
        "sampled_negatives": 20, "candidates": 50,
    }), "sequence": settings.sequence.model_copy(update=SEQUENCE)})  # fmt: skip
    request = EvaluateRequest(events=retail_slice, reports_dir=settings.state_dir / "reports", name="slice")
    done = evaluate(s, request, extra_rankers=attention_factory(s))
    result = json.loads(done.json_path.read_text())
    assert "<img src='data:image/png;base64," in done.html_path.read_text()
    runs = {(r["split"], r["mode"], r["protocol"]): r for r in result["runs"]}
    assert len(runs) == 8
    names = [row["name"] for row in runs[("time", "eligible", "full")]["rows"]]
    assert names == ["most-popular", "recently-popular", "repeat-then-popular", "repeat-then-recently-popular",
                     "co-occurrence", "bm25-last-item", "knn-history-mean[base]", "attention[base]"]  # fmt: skip
    for split in result["splits"]:
        assert 0 < split["evaluated_users"] <= 40
    for run in result["runs"]:
        assert run["cases"] > 0 and run["best_baseline"] in names
        for row in run["rows"]:
            assert row["metrics"]["hr@50"] > 0, (run["split"], run["mode"], run["protocol"], row["name"])
            if row["name"] != run["best_baseline"]:
                ci = row["vs_best_baseline"]["ndcg@10"]
                assert ci["low"] <= ci["diff"] <= ci["high"]
    eligible, excluded = runs[("time", "eligible", "full")], runs[("time", "excluded", "full")]
    assert eligible["repeat_targets"] > 0 and excluded["repeat_targets"] == 0
    assert excluded["targets"] == eligible["targets"] - eligible["repeat_targets"]
    # Personalized search: queries from newly bought items' titles, retrieved from the real index, each weight
    # measured against the anonymous order; the explanations of the top 10 measured and shown.
    searches = {s["split"]: s for s in result["search"]}
    assert set(searches) == {"time", "leave-last-out"}
    (row,) = searches["time"]["rows"]
    assert row["name"] == "attention[base]" and row["test"]["searches"] > 0
    weights = {w["weight"]: w for w in row["test"]["weights"]}
    assert set(weights) >= {"1", "user order"} and 0 < row["test"]["anonymous"]["adherence@10"] <= 1
    assert all(0 <= w["adherence@10"] <= 1 and w["mrr_diff"]["low"] <= w["mrr_diff"]["high"] for w in weights.values())
    (explained,) = result["explanations"][0]["rows"]
    assert explained["users"] > 0 and 0 < explained["distinct_first"] <= 1 and explained["examples"]
    assert "personalized search" in done.html_path.read_text()


def test_last_item_split_with_the_peers_and_the_attention_ranker_on_the_real_index(settings, fake_embedder,
                                                                                    retail_slice):  # fmt: skip
    from ranker.evaluation.attention import attention_factory

    api.build_from_catalog(settings, retail_slice, embedder=fake_embedder)
    s = settings.model_copy(update={"evaluation": settings.evaluation.model_copy(update={
        "max_users": 40, "bootstrap_samples": 100, "ranker_epochs": 1, "ranker_train_examples": 2000,
        "sampled_negatives": 20, "peer_epochs": 2, "peer_dim": 16, "peer_max_length": 20,
    }), "sequence": settings.sequence.model_copy(update=SEQUENCE)})  # fmt: skip
    request = EvaluateRequest(events=retail_slice, splits=("last-item",), reports_dir=settings.state_dir / "reports",
                              name="last-item", search=False)  # fmt: skip
    done = evaluate(s, request, extra_rankers=attention_factory(s))
    result = json.loads(done.json_path.read_text())
    (split,) = result["splits"]
    assert split["name"] == "last-item" and split["validation_users"] >= split["test_users"] > 40
    assert split["evaluated_users"] == 40
    runs = {(r["mode"], r["protocol"]): r for r in result["runs"]}
    assert set(runs) == {(m, p) for m in ("eligible", "excluded") for p in ("full", "sampled")}
    names = [row["name"] for row in runs[("eligible", "full")]["rows"]]
    assert names[-4:] == ["bpr", "gru4rec", "sasrec", "attention[base]"] and "most-popular" in names
    fit = runs[("eligible", "full")]["fit"]
    for peer in ("bpr", "gru4rec", "sasrec"):
        assert fit[peer]["validation"] == "split" and fit[peer]["epochs"] <= 2 and fit[peer]["seconds"] > 0
    for run in result["runs"]:
        assert run["cases"] > 0 and len(run["rows"]) == len(names)
        for row in run["rows"]:
            assert row["metrics"]["hr@50"] > 0, (run["mode"], run["protocol"], row["name"])
        if run["protocol"] == "full":
            items = run["by_item_history"]
            assert items["cold"]["targets"] + items["warm"]["targets"] == run["targets"]
            assert set(items["warm"]) == {"targets", *names}
    assert "recall@10 cold items" in (settings.state_dir / "reports" / "last-item.md").read_text()


def test_real_index_searches_respect_exclusions(settings, fake_embedder, retail_slice):
    api.build_from_catalog(settings, retail_slice, embedder=fake_embedder)
    from core.opensearch.client import make_client

    client = make_client(settings.opensearch)
    catalog = load_catalog(client, settings.opensearch.index_alias, settings.opensearch.url)
    search = OpenSearchItems(client, settings.opensearch.index_alias, batch=2)
    skip = catalog.ids[:5]
    (near, far) = search.knn(catalog.vectors[:2], 10, [skip, []])
    assert near and not set(i for i, _ in near) & set(skip)
    assert far[0][0] == catalog.ids[1]  # an item is its own nearest neighbour
    (hits,) = search.bm25([catalog.text_of(catalog.ids[0])], 5, [[catalog.ids[0]]])
    assert hits and catalog.ids[0] not in [i for i, _ in hits]
    scores = search.bm25_scores(catalog.text_of(catalog.ids[0]), catalog.ids[:3])
    assert scores[catalog.ids[0]] > 0


def test_evaluate_errors_are_clear(settings, tmp_path):
    with pytest.raises(IndexMissing, match="does not exist"):
        evaluate(settings, EvaluateRequest(events=DATA))
    bad = tmp_path / "events.csv"
    bad.write_text("user_id,item_id\n1,a\n")
    from ranker.feedback.frames import events_frame_from_file

    with pytest.raises(InputError, match="events.csv: field 'type': column 'type' for type not found"):
        events_frame_from_file(bad)


@pytest.mark.parametrize("objective", ["history", "pairs"])
def test_finetune_saves_a_loadable_version_trained_before_the_cutoff(settings, minilm, retail_slice, objective):
    from core.embedding import load_embedder
    from ranker.finetune import finetune_from_settings, list_versions

    api.build_from_catalog(settings, retail_slice, embedder=minilm)
    tuning = settings.finetune.model_copy(update={"batch_size": 8, "objective": objective})
    s = settings.model_copy(update={"finetune": tuning})
    result = finetune_from_settings(s, events_path=retail_slice, max_steps=2)
    assert result.steps == 2 and result.stopped_by == "max_steps"
    assert 0 <= result.selected_step <= result.steps  # the weights of the best held-out check are the ones saved
    assert {"history_mean_ndcg@10_before", "history_mean_ndcg@10_after"} <= set(result.validation)
    assert pd.Timestamp(result.until) < pd.read_parquet(retail_slice)["InvoiceDate"].max()
    tuned = load_embedder(str(result.path))
    assert tuned.encode(["heart t-light holder"]).shape == (1, minilm.dimension)
    assert [v["version"] for v in list_versions(s)] == [result.version]
    assert result.recipe["objective"] == objective


def test_events_come_from_the_store_when_no_file_is_given(settings):
    from datetime import datetime

    from core.store import open_store
    from ranker.feedback.events import EventIn
    from ranker.feedback.frames import load_events
    from ranker.feedback.profiles import ProfileStore

    engine = open_store(settings.store)
    ProfileStore(engine, settings).ingest([
        EventIn(user_id="u1", item_id="a", type="purchase", ts=datetime(2024, 1, 1)),
        EventIn(user_id="u1", item_id="b", type="view", ts=datetime(2024, 1, 2)),
        EventIn(user_id="u2", item_id="c", type="purchase", ts=datetime(2024, 1, 3)),
    ])  # fmt: skip
    events = load_events(settings, types=settings.evaluation.event_types)
    assert events[["user_id", "item_id", "type"]].values.tolist() == [["u1", "a", "purchase"], ["u2", "c", "purchase"]]
    with pytest.raises(InputError, match="no events of type view2"):
        load_events(settings, types=["view2"])
