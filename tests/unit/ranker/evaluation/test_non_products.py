"""The evaluation measures what is served: items the catalog marks not recommendable (postage, bought by
everyone) are never recommended by a baseline or the attention ranker, never a target, never a sampled negative,
and still count as history."""

from __future__ import annotations

import numpy as np
import pytest

from ranker.evaluation.attention import AttentionReranker
from ranker.evaluation.baselines import (
    Bm25LastItem,
    BoughtTogether,
    HistoryKnn,
    MostPopular,
    RecentlyPopular,
    RepeatThenPopular,
)
from ranker.evaluation.catalog import IndexSnapshot
from ranker.evaluation.runner import sampled_negatives
from ranker.evaluation.splits import TestCase, leave_last_out, time_split
from tests.fakes.embedder import HashEmbedder
from tests.fakes.evaluation import FakeSearch, events

TEXTS = {"postage": "postage", "mug": "red ceramic mug", "cup": "red ceramic cup", "plate": "white dinner plate",
         "bowl": "white soup bowl"}  # fmt: skip
LOG = events([
    ("u1", "postage", "2024-01-01"), ("u1", "mug", "2024-01-01"), ("u1", "postage", "2024-02-05"),
    ("u1", "cup", "2024-02-05"),
    ("u2", "postage", "2024-01-02"), ("u2", "plate", "2024-01-02"), ("u2", "postage", "2024-02-06"),
    ("u3", "postage", "2024-01-03"), ("u3", "bowl", "2024-01-03"), ("u3", "postage", "2024-01-20"),
])  # fmt: skip


@pytest.fixture
def catalog():
    ids = list(TEXTS)
    vectors = HashEmbedder(64).encode([TEXTS[i] for i in ids])
    flags = np.array([i != "postage" for i in ids])
    return IndexSnapshot(ids, [TEXTS[i] for i in ids], vectors, stored_vectors=vectors, recommendable=flags)


def case(history, targets=("cup",)):
    return TestCase("u", tuple(history), tuple([None] * len(history)), tuple(targets))


def test_no_baseline_recommends_postage(catalog):
    search = FakeSearch(catalog)
    baselines = [MostPopular(catalog), RecentlyPopular(catalog), RepeatThenPopular(catalog), BoughtTogether(catalog),
                 HistoryKnn(catalog, search), Bm25LastItem(catalog, search)]  # fmt: skip
    history = ["postage", "mug", "postage", "mug"]
    for baseline in baselines:
        baseline.fit(LOG)
        for exclude_seen in (False, True):
            (ranked,) = baseline.recommend([case(history)], 5, exclude_seen)
            assert ranked and "postage" not in ranked, (baseline.name, exclude_seen)
    assert MostPopular(catalog).recommend([case([])], 10, False) == [["mug", "cup", "plate", "bowl"]]  # all 0: ties


def test_postage_is_never_a_target_but_stays_history(catalog):
    split = time_split(LOG, "2024-02-01", 30, catalog.position, catalog.recommendable_ids)
    assert [(c.user_id, c.history, c.targets) for c in split.cases] == [("u1", ("postage", "mug"), ("cup",))]
    assert split.stats["targets_not_recommendable"] == 2  # u1's and u2's postage; u2 has no other target
    held = leave_last_out(LOG, catalog.position, catalog.recommendable_ids)
    assert all("postage" not in c.targets for c in held.cases)


def test_sampled_negatives_are_only_items_that_may_be_recommended(catalog):
    ((target, *negatives),) = sampled_negatives([case(["mug"], targets=("cup",))], catalog, n=10, seed=3)
    assert target == "cup" and sorted(negatives) == ["bowl", "plate"]  # neither bought, nor the target, nor postage


def test_the_attention_ranker_gets_the_flags_with_the_vectors(catalog):
    ranker = AttentionReranker(catalog, FakeSearch(catalog), checkpoint=object())
    assert ranker.vectors.unrecommendable(list(TEXTS)) == {"postage"}
