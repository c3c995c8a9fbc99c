"""The candidate pool of recommendations never holds an item the catalog marks not recommendable (postage, fees),
whichever source would bring it: k-NN, the user's own items, the model's co-purchases or what sells now."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import numpy as np

from ranker.model import ItemVectors, candidate_pool
from ranker.model.checkpoint import Checkpoint
from ranker.model.cooccurrence import CoOccurrence
from ranker.model.features import FEATURE_NAMES
from ranker.model.item_stats import ItemStats
from ranker.model.network import AttentionRanker, RankerConfig
from ranker.model.scoring import Scorer

IDS = ["mug", "cup", "plate", "POST"]
VECTORS = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.95, 0.05, 0]], dtype=np.float32)


def _vectors() -> ItemVectors:
    return ItemVectors.from_arrays(IDS, VECTORS, IDS, [1.0] * 4, recommendable=[True, True, None, False])


class UnfilteredSearch:
    """k-NN that does not filter (an index that would return postage): the pool must still leave it out."""

    def knn_ids(self, vector, k, exclude):
        order = np.argsort(-(VECTORS @ np.asarray(vector)), kind="stable")
        return [IDS[i] for i in order if IDS[i] not in exclude][:k]


class PostageModel:
    """The model's own candidates: postage is bought with everything and sells every day."""

    config = RankerConfig(history_length=10, feature_history=10)

    def companions(self, history, n):
        return ["POST", "plate"][:n]

    def trending(self, n):
        return ["POST", "cup"][:n]


def _history(*items: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(item_id=i, type="purchase", ts=datetime(2011, 12, 1)) for i in items]


def test_item_vectors_say_which_items_may_be_recommended():
    vectors = _vectors()
    assert vectors.recommendable.tolist() == [True, True, True, False]  # None (an old document) reads as True
    assert vectors.unrecommendable(["POST", "mug", "unknown"]) == {"POST"}
    assert ItemVectors.from_arrays(IDS, VECTORS).unrecommendable(IDS) == set()  # no flags: every item


def test_the_pool_leaves_out_non_products_from_every_source():
    history = _history("POST", "mug", "POST")
    for model in (PostageModel(), None):
        for include_purchased in (True, False):
            pool = candidate_pool(history, UnfilteredSearch(), _vectors(), model=model, size=4, window=10,
                                  include_purchased=include_purchased)  # fmt: skip
            ids = [c.id for c in pool.candidates]
            assert "POST" not in ids and ids, (model, include_purchased)
    pool = candidate_pool(history, UnfilteredSearch(), _vectors(), model=PostageModel(), size=4, window=10,
                          include_purchased=True)  # fmt: skip
    assert sorted(c.id for c in pool.candidates) == ["cup", "mug", "plate"]
    # Postage still counts as history: the pool's vector is the mean of mug and postage.
    assert pool.vector is not None and pool.vector[1] > 0


def test_the_models_co_purchases_and_trending_items_skip_non_products():
    ids = ["a", "b", "c", "POST"]
    items = ItemVectors.from_arrays(ids, np.eye(4, dtype=np.float32), ids, [1.0] * 4, [True, True, True, False])
    baskets = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    bought = ["b", "POST", "b", "POST", "b", "a", "c", "POST"]  # POST is b's most frequent partner
    stats = ItemStats.fit({i: 1.0 for i in ids}, np.ones(4), CoOccurrence.fit(baskets, bought),
                          trend=({"POST": 9.0, "c": 1.0}, np.log1p(9.0)))  # fmt: skip
    config = RankerConfig(item_dim=4, attention_dim=4, hidden_dim=4, num_features=len(FEATURE_NAMES),
                          feature_names=FEATURE_NAMES)  # fmt: skip
    scorer = Scorer(Checkpoint(AttentionRanker(config).eval(), "v1", stats), items, threads=None)
    assert scorer.companions(_history("b"), 5) == ["a"]
    assert scorer.trending(5) == ["c"] and scorer.trending(1) == ["c"]
