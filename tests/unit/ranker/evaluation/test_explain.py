"""The explanation measures: how many of a top 10's reasons are their own, with readable examples."""

from __future__ import annotations

import pytest

from ranker.evaluation.explain import explanation_stats
from ranker.evaluation.splits import TestCase
from tests.fakes.embedder import HashEmbedder
from tests.fakes.evaluation import make_catalog

TEXTS = {f"i{n}": f"item number {n}" for n in range(12)}


class SameReason:
    name = "same"

    def explained(self, case, k):
        return [(f"i{n}", [("i0", 0.1), ("i1", 0.1)]) for n in range(2, 2 + k)]


class OwnReason:
    name = "own"

    def explained(self, case, k):
        return [(f"i{n}", [(f"i{n % 2}", 0.9)]) for n in range(2, 2 + k)]


def test_explanations_that_name_the_same_items_everywhere_score_low_and_own_reasons_high():
    catalog = make_catalog(TEXTS, HashEmbedder(8))
    cases = [TestCase(f"u{n}", ("i0", "i1"), (None, None), ("i5",)) for n in range(3)]
    same, own = explanation_stats([SameReason(), OwnReason(), object()], cases, catalog, k=4)
    assert same["distinct_first"] == pytest.approx(1 / 4) and same["distinct_lists"] == pytest.approx(1 / 4)
    assert own["distinct_first"] == pytest.approx(2 / 4) and own["first_weight"] == pytest.approx(0.9)
    assert own["users"] == 3 and len(own["examples"]) == 3
    assert own["examples"][0]["results"][0] == {"item": "item number 2", "because": ["item number 0"]}
