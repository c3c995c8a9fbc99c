"""The last-item split through the runner and the reports: peers beside the baselines, validation cases handed to
the rankers that take them, the cold-start rows (users by history size, cold target items), and the request's
checks (splits, peers, settings) before anything loads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.settings import Settings
from ranker.evaluation.api import EvaluateRequest, config_from_settings, peer_factory
from ranker.evaluation.baselines import HistoryKnn, MostPopular
from ranker.evaluation.catalog import IndexSnapshot
from ranker.evaluation.peers import PeerOptions, PeerRecommender
from ranker.evaluation.report import render_html, render_markdown
from ranker.evaluation.runner import EvalConfig, run_evaluation
from tests.builders.shop import clustered_shop
from tests.fakes.evaluation import FakeSearch


class OldStyle(MostPopular):
    """A ranker written before validation cases existed: ``fit(train)`` only."""

    def __init__(self, catalog):
        super().__init__(catalog, "old-style")
        self.fitted_on = []

    def fit(self, train):
        self.fitted_on.append(len(train))
        super().fit(train)


class AModel(MostPopular):
    """A row of kind "model" (as the attention reranker's): compared with each peer one by one."""

    kind = "model"

    def __init__(self, catalog):
        super().__init__(catalog, "a-model")


@pytest.fixture(scope="module")
def shop():
    """The clustered shop plus one user whose last purchase is an item nobody else bought (a cold target), its
    vector the centre of the cluster the user buys from."""
    events, items = clustered_shop(users=48)
    last = events["ts"].max()
    rows = [("new-user", f"c0-{i}", last + pd.Timedelta(days=i)) for i in range(5)]
    rows.append(("new-user", "new-item", last + pd.Timedelta(days=6)))
    extra = pd.DataFrame([(u, i, "purchase", ts, 1.0, 1.0, True) for u, i, ts in rows], columns=events.columns)
    events = pd.concat([events, extra], ignore_index=True).sort_values(["user_id", "ts"], kind="stable")
    centre = items.vectors[:15].mean(axis=0)
    vectors = np.vstack([items.vectors, centre / np.linalg.norm(centre)]).astype(np.float32)
    ids = [*items.ids, "new-item"]
    return events.reset_index(drop=True), IndexSnapshot(ids, ids, vectors)


def test_peers_run_beside_the_baselines_with_cold_start_rows(shop):
    events, catalog = shop
    old = OldStyle(catalog)
    options = PeerOptions(epochs=3, dim=16, device="cpu")
    rankers = [MostPopular(catalog), old, HistoryKnn(catalog, FakeSearch(catalog)),
               PeerRecommender(catalog, "sasrec", options), PeerRecommender(catalog, "bpr", options),
               AModel(catalog)]  # fmt: skip
    config = EvalConfig(ks=(10, 20), splits=("last-item", "time"), sampled_negatives=10, bootstrap_samples=20,
                        ci_metrics=("ndcg@10",), max_users=0)  # fmt: skip
    result = run_evaluation(events, catalog, rankers, config)
    last_item = result["splits"][0]
    assert last_item["name"] == "last-item" and last_item["test_users"] == last_item["validation_users"] == 49
    assert old.fitted_on == [last_item["train_events"], result["splits"][1]["train_events"]]  # both splits
    runs = {(r["split"], r["mode"], r["protocol"]): r for r in result["runs"]}
    full = runs[("last-item", "excluded", "full")]
    assert [row["name"] for row in full["rows"]] == ["most-popular", "old-style", "knn-history-mean", "sasrec", "bpr",
                                                     "a-model"]  # fmt: skip
    model = full["rows"][-1]
    assert set(model["vs_peers"]) == {"sasrec", "bpr"} and "vs_peers" not in full["rows"][0]
    versus = model["vs_peers"]["bpr"]
    assert versus["low"] <= versus["diff"] <= versus["high"]
    assert full["fit"]["sasrec"]["validation"] == "split" and full["fit"]["sasrec"]["validation_cases"] > 0
    assert runs[("time", "eligible", "full")]["fit"]["bpr"]["validation"] == "time slice"
    # Cold start: one cold target (the new item); ID models and popularity cannot find it, the index's k-NN can.
    cold, warm = full["by_item_history"]["cold"], full["by_item_history"]["warm"]
    assert cold["targets"] == 1 and warm["targets"] == full["targets"] - 1
    assert cold["most-popular"] == cold["sasrec"] == cold["bpr"] == 0.0 and cold["knn-history-mean"] == 1.0
    assert set(full["by_activity"]) == {"5-19"}
    assert set(runs[("time", "eligible", "full")]["by_activity"]) <= {"1-2", "3-4", "5-19"}
    markdown, page = render_markdown(result), render_html(result)
    for text in (markdown, page):
        assert "sasrec" in text and "bpr" in text and "recall@10 cold items (1 targets)" in text
    assert "| sasrec | " in markdown and "| ranker | ndcg@10 users 5-19 (" in markdown
    assert "- a-model vs sasrec: Δndcg@10 " in markdown and "a-model vs bpr: Δndcg@10" in page


def test_the_request_is_checked_before_anything_loads():
    settings = Settings()
    with pytest.raises(InputError, match="field 'split': unknown split 'last' \\(use time, leave-last-out, last-item"):
        config_from_settings(settings, EvaluateRequest(splits=("time", "last")))
    low = settings.model_copy(update={"evaluation": settings.evaluation.model_copy(update={"min_interactions": 2})})
    with pytest.raises(InputError, match="RECSEARCH_EVAL_MIN_INTERACTIONS must be at least 3"):
        config_from_settings(low, EvaluateRequest(splits=("last-item",)))
    assert config_from_settings(settings, EvaluateRequest(splits=("last-item",))).min_interactions == 5
    # Peers: on by default with the last-item split, off otherwise, either way on request.
    assert peer_factory(settings, EvaluateRequest(splits=("last-item",))) is not None
    assert peer_factory(settings, EvaluateRequest(splits=("time",))) is None
    assert peer_factory(settings, EvaluateRequest(splits=("time",), peers=True)) is not None
    assert peer_factory(settings, EvaluateRequest(splits=("last-item",), peers=False)) is None
    bad = settings.model_copy(update={"evaluation": settings.evaluation.model_copy(update={"peers": ["bert4rec"]})})
    with pytest.raises(InputError, match="RECSEARCH_EVAL_PEERS must name peers among bpr, gru4rec, sasrec"):
        peer_factory(bad, EvaluateRequest(splits=("last-item",)))
