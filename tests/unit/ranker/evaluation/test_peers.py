"""The peer recommenders (BPR, GRU4Rec, SASRec) learn the synthetic shop's clusters in seconds, reproducibly,
never rank an untrained item above a trained one, and train under one loop with its budget and early stopping."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.settings import EvalSettings
from ranker.evaluation.baselines import MostPopular
from ranker.evaluation.catalog import IndexSnapshot
from ranker.evaluation.peers import PEERS, PeerOptions, PeerRecommender
from ranker.evaluation.peers.data import PeerData, history_rows, training_windows
from ranker.evaluation.splits import TestCase, last_item, time_split
from ranker.metrics import case_metrics
from tests.builders.shop import clustered_shop

#: Small and quick: the shop has 120 items and ~2,000 training events.
FAST = PeerOptions(epochs=12, patience=12, dim=32, learning_rate=1e-2, device="cpu", seed=3)


@pytest.fixture(scope="module")
def shop():
    events, items = clustered_shop()
    # Two catalog items nobody ever bought: cold items.
    ids = [*items.ids, "new-1", "new-2"]
    catalog = IndexSnapshot(ids, ids, np.zeros((len(ids), 4), dtype=np.float32))
    return events, catalog, last_item(events, catalog.position, min_interactions=5)


def ndcg_excluded(ranker, cases) -> float:
    """NDCG@10 with already-bought items excluded (cases whose target was bought before left out)."""
    fresh = [c for c in (x.without_history_targets() for x in cases) if c]
    lists = ranker.recommend(fresh, 10, exclude_seen=True)
    return float(np.mean([case_metrics(r, c.targets, (10,))["ndcg@10"] for r, c in zip(lists, fresh, strict=True)]))


@pytest.mark.parametrize("peer", PEERS)
def test_each_peer_learns_the_users_clusters(shop, peer):
    events, catalog, split = shop
    popular = MostPopular(catalog)
    popular.fit(split.train)
    ranker = PeerRecommender(catalog, peer, FAST)
    ranker.fit(split.train, validation=split.validation)
    baseline, learnt = ndcg_excluded(popular, split.cases), ndcg_excluded(ranker, split.cases)
    assert learnt > max(0.2, 4 * baseline), (peer, learnt, baseline)
    info = ranker.fit_info
    assert info["validation"] == "split" and info["validation_cases"] > 0 and 1 <= info["best_epoch"] <= info["epochs"]
    assert info["train_events"] == len(split.train)
    # Whole-catalog lists, full length; the sampled protocol's scores agree with the ranking.
    (top,) = ranker.recommend(split.cases[:1], 5, exclude_seen=False)
    assert len(top) == 5
    scores = ranker.score(split.cases[0], top)
    assert list(scores) == sorted(scores, reverse=True)


def test_untrained_items_score_below_every_trained_one(shop):
    events, catalog, split = shop
    ranker = PeerRecommender(catalog, "sasrec", PeerOptions(epochs=1, dim=16, device="cpu"))
    ranker.fit(split.train, validation=split.validation)
    case = split.cases[0]
    trained = [i for i in catalog.ids if i.startswith("c")]
    cold = ranker.score(case, ["new-1", "new-2"])
    assert cold.max() < ranker.score(case, trained).min()
    (everything,) = ranker.recommend([case], len(catalog), exclude_seen=False)
    assert set(everything[-2:]) == {"new-1", "new-2"}
    # A cold item in a history is no input (its embedding means nothing), a case without history still ranks.
    rows = history_rows([TestCase("x", ("new-1", "c0-1"), (None, None), ("c0-2",))], catalog, ranker.data.trained, 4)
    assert rows.tolist() == [[0, 0, 0, catalog.position["c0-1"] + 1]]
    assert len(ranker.recommend([TestCase("x", (), (), ("c0-2",))], 10, exclude_seen=True)[0]) == 10


@pytest.mark.parametrize("peer", PEERS)
def test_the_same_seed_gives_the_same_ranking(shop, peer):
    events, catalog, split = shop
    options = PeerOptions(epochs=2, dim=16, device="cpu", seed=5)
    lists = []
    for _ in range(2):
        ranker = PeerRecommender(catalog, peer, options)
        ranker.fit(split.train, validation=split.validation)
        lists.append(ranker.recommend(split.cases[:20], 20, exclude_seen=True))
    assert lists[0] == lists[1]


def test_without_validation_cases_a_peer_holds_out_the_newest_slice_and_folds_in_unknown_users(shop):
    events, catalog, _ = shop
    split = time_split(events, horizon_days=30, catalog=catalog.position)
    ranker = PeerRecommender(catalog, "bpr", PeerOptions(epochs=2, dim=16, device="cpu", validation_fraction=0.1))
    ranker.fit(split.train)
    assert ranker.fit_info["validation"] == "time slice" and ranker.fit_info["validation_cases"] > 0
    assert ranker.fit_info["train_events"] < len(split.train)  # the slice is not trained on
    stranger = TestCase("nobody", ("c1-1", "c1-2"), (None, None), ("c1-3",))
    assert len(ranker.recommend([stranger], 10, exclude_seen=True)[0]) == 10


def test_the_time_budget_and_patience_stop_training(shop):
    events, catalog, split = shop
    slow = PeerRecommender(catalog, "gru4rec", PeerOptions(epochs=50, minutes=1e-6, dim=16, device="cpu"))
    slow.fit(split.train, validation=split.validation)
    assert slow.fit_info["stopped_by"] == "minutes" and slow.fit_info["epochs"] == 1
    impatient = PeerRecommender(catalog, "bpr", PeerOptions(epochs=50, patience=1, dim=16, device="cpu",
                                                            learning_rate=1e-1))  # fmt: skip
    impatient.fit(split.train, validation=split.validation)
    info = impatient.fit_info
    assert info["stopped_by"] == "patience" and info["epochs"] == info["best_epoch"] + 1 < 50


def test_training_windows_cover_every_transition_once():
    sequences = [np.arange(1, 8), np.array([9]), np.array([4, 5])]
    inputs, targets = training_windows(sequences, 3)
    pairs = sorted((int(i), int(t)) for x, y in zip(inputs, targets, strict=True) for i, t in zip(x, y, strict=True)
                   if t)  # fmt: skip
    assert pairs == sorted([(k, k + 1) for k in range(1, 7)] + [(4, 5)])
    assert inputs.shape == targets.shape == (3, 3) and inputs[-1].tolist() == [0, 0, 4]  # 7 items: 2 windows


def test_peer_data_lines_up_with_the_catalog():
    events, items = clustered_shop(users=4)
    catalog = IndexSnapshot(list(items.ids), list(items.ids), items.vectors)
    data = PeerData.from_events(events, catalog)
    assert data.n_items == len(catalog) and data.n_users == 4
    first = events[events["user_id"] == "0"]["item_id"].map(catalog.position).to_numpy() + 1
    assert data.sequences()[data.user_index["0"]].tolist() == first.tolist()
    assert data.trained.sum() == events["item_id"].nunique()


@pytest.mark.parametrize(("field", "value", "name"), [
    ("peer_epochs", 0, "RECSEARCH_EVAL_PEER_EPOCHS"), ("peer_minutes", 0.0, "RECSEARCH_EVAL_PEER_MINUTES"),
    ("peer_max_length", 0, "RECSEARCH_EVAL_PEER_MAX_LENGTH"),
])  # fmt: skip
def test_bad_peer_settings_name_the_setting(field, value, name):
    with pytest.raises(InputError, match=name):
        PeerOptions.from_settings(EvalSettings(**{field: value}))
    assert PeerOptions.from_settings(EvalSettings()).epochs == EvalSettings().peer_epochs
