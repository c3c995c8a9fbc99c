"""Baselines and the evaluation runner on a tiny catalog with an in-memory index."""

from __future__ import annotations

import pytest

from ranker.evaluation.baselines import Bm25LastItem, BoughtTogether, HistoryKnn, MostPopular
from ranker.evaluation.runner import EvalConfig, run_evaluation, sampled_negatives
from ranker.evaluation.splits import TestCase
from tests.fakes.embedder import HashEmbedder
from tests.fakes.evaluation import FakeSearch, events, make_catalog

TEXTS = {
    "mug-red": "red ceramic mug", "mug-blue": "blue ceramic mug", "plate": "white dinner plate",
    "bowl": "white soup bowl", "candle": "heart candle holder", "lamp": "heart lamp", "card": "birthday card",
}  # fmt: skip


@pytest.fixture
def catalog():
    return make_catalog(TEXTS, HashEmbedder(64))


TRAIN = events([
    ("u1", "plate", "2024-01-01"), ("u1", "bowl", "2024-01-01"),
    ("u2", "plate", "2024-01-02"), ("u2", "bowl", "2024-01-02"), ("u2", "card", "2024-01-03"),
    ("u3", "card", "2024-01-04"), ("u4", "card", "2024-01-05"), ("u5", "plate", "2024-01-06"),
])  # fmt: skip


def case(history, targets=("x",)):
    return TestCase("u", tuple(history), tuple([None] * len(history)), tuple(targets))


def test_most_popular_orders_by_purchases_and_can_skip_history(catalog):
    pop = MostPopular(catalog)
    pop.fit(TRAIN)
    assert pop.recommend([case([])], 3, False)[0] == ["plate", "card", "bowl"]
    assert pop.recommend([case(["plate"])], 2, True)[0] == ["card", "bowl"]


def test_co_occurrence_recommends_basket_partners(catalog):
    co = BoughtTogether(catalog)
    co.fit(TRAIN)
    assert co.recommend([case(["plate"])], 1, True)[0] == ["bowl"]
    assert co.recommend([case(["plate"])], 2, False)[0][:1] == ["bowl"]
    scores = co.score(case(["plate"]), ["bowl", "lamp"])
    assert scores[0] > scores[1]


def test_history_knn_and_bm25_use_the_index(catalog):
    search = FakeSearch(catalog)
    knn = HistoryKnn(catalog, search)
    assert knn.recommend([case(["mug-red"])], 1, True)[0] == ["mug-blue"]
    assert knn.recommend([case(["mug-red"])], 1, False)[0] == ["mug-red"]
    bm25 = Bm25LastItem(catalog, search)
    assert bm25.recommend([case(["mug-red", "candle"])], 2, True)[0] == ["lamp"]  # the last item's text
    assert list(bm25.score(case(["candle"]), ["lamp", "card"])) == [1.0, 0.0]
    assert knn.recommend([case(["not-in-catalog"])], 3, False) == [[]]


def test_sampled_negatives_avoid_history_and_targets(catalog):
    c = case(["plate", "bowl"], targets=("card", "lamp"))
    (row,) = sampled_negatives([c], catalog, n=3, seed=1)
    assert row[0] == "card" and len(row) == 4
    assert not set(row[1:]) & {"plate", "bowl", "card", "lamp"}


def test_runner_reports_every_split_mode_and_protocol_with_paired_intervals(catalog):
    log = events([
        ("u1", "plate", "2024-01-01"), ("u1", "bowl", "2024-01-01"), ("u1", "plate", "2024-02-10"),
        ("u1", "bowl", "2024-02-10"),
        ("u2", "plate", "2024-01-02"), ("u2", "bowl", "2024-02-11"), ("u2", "card", "2024-02-11"),
        ("u3", "mug-red", "2024-01-03"), ("u3", "mug-blue", "2024-02-12"),
        ("u4", "candle", "2024-01-04"), ("u4", "lamp", "2024-02-13"), ("u4", "plate", "2024-01-04"),
    ])  # fmt: skip
    search = FakeSearch(catalog)
    rankers = [
        MostPopular(catalog),
        BoughtTogether(catalog),
        HistoryKnn(catalog, search),
        Bm25LastItem(catalog, search),
    ]
    config = EvalConfig(ks=(1, 3), cutoff="2024-02-01", sampled_negatives=3, bootstrap_samples=50,
                        ci_metrics=("ndcg@3",), primary="ndcg@3")  # fmt: skip
    result = run_evaluation(log, catalog, rankers, config)
    runs = {(r["split"], r["mode"], r["protocol"]): r for r in result["runs"]}
    assert set(runs) == {(s, m, p) for s in ("time", "leave-last-out") for m in ("eligible", "excluded")
                         for p in ("full", "sampled")}  # fmt: skip
    eligible = runs[("time", "eligible", "full")]
    assert eligible["cases"] == 4 and eligible["targets"] == 6 and eligible["repeat_targets"] == 2
    excluded = runs[("time", "excluded", "full")]
    assert excluded["cases"] == 3 and excluded["repeat_targets"] == 0  # u1 only re-bought
    for run in result["runs"]:
        best = run["best_baseline"]
        for row in run["rows"]:
            assert ("vs_best_baseline" in row) == (row["name"] != best)
            assert all(0.0 <= v <= 1.0 for k, v in row["metrics"].items() if "@" in k)
        assert run["rows"][0]["metrics"].keys() >= ({"ndcg@1", "hr@3"} | ({"coverage@3", "map@3", "f1@1"}
                                                    if run["protocol"] == "full" else {"mrr"}))  # fmt: skip
    assert set(eligible["by_activity"]) == {"1-2"}  # the cold-start group: one or two distinct history items
    assert result["splits"][0]["cutoff"].startswith("2024-02-01")


def test_repeat_then_popular_puts_own_items_first_most_bought_then_newest(catalog):
    from ranker.evaluation.baselines import RepeatThenPopular

    rep = RepeatThenPopular(catalog)
    rep.fit(TRAIN)
    history = ["lamp", "candle", "lamp", "mug-red"]
    assert rep.recommend([case(history)], 4, False)[0] == ["lamp", "mug-red", "candle", "plate"]
    assert rep.recommend([case(history)], 2, True)[0] == ["plate", "card"]  # = most popular without own items


def test_recently_popular_counts_only_the_last_days_and_repeat_then_uses_it(catalog):
    from ranker.evaluation.baselines import RecentlyPopular, RepeatThenPopular

    recent = RecentlyPopular(catalog, days=3)  # 2024-01-03 .. 01-06: card x3, plate x1
    recent.fit(TRAIN)
    assert recent.recommend([case([])], 2, False)[0] == ["card", "plate"]
    assert MostPopular(catalog).name != recent.name == "recently-popular"
    mixed = RepeatThenPopular(catalog, "repeat-then-recently-popular", RecentlyPopular(catalog, days=3))
    mixed.fit(TRAIN)
    assert mixed.recommend([case(["bowl"])], 3, False)[0] == ["bowl", "card", "plate"]
