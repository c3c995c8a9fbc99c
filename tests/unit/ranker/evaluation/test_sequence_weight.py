"""The sequence model's weight sweep: the fused order at each weight, on validation and test users, both modes."""

from __future__ import annotations

import numpy as np

from ranker.evaluation.report import render_markdown
from ranker.evaluation.sequence_weight import sequence_weight_sweep
from ranker.evaluation.splits import TestCase


class TwoOrders:
    """A pool of ten items the 'ranker' orders i0..i9 and the 'sequence model' i9..i0."""

    name = "two"
    sequence_weight = 1.0

    def orders_by_sequence(self):
        return True

    def two_orders(self, case, exclude_seen):
        ids = [f"i{n}" for n in range(10) if not (exclude_seen and f"i{n}" in case.seen)]
        ranker = -np.arange(len(ids), dtype=float)
        return ids, ranker, -ranker


class NoSequence:
    name = "plain"


def _case(user, target, history=("h",)):
    return TestCase(user, history, (None,) * len(history), (target,))


def test_the_sweep_measures_each_weight_and_picks_the_best_on_validation_users():
    validation = [_case("a", "i9"), _case("b", "i8")]  # the sequence model's picks
    test = [_case("a", "i0"), _case("b", "i9", history=("i9",))]  # a ranker pick, and a repeat purchase
    [found] = sequence_weight_sweep([TwoOrders(), NoSequence()], test, validation, "ndcg@1", weights=(0.0, 0.2, 9.0))
    by_weight = {r["weight"]: r for r in found["rows"]}
    assert by_weight[0.0]["validation/excluded"] == 0.0 and by_weight[9.0]["validation/excluded"] == 0.5
    assert by_weight[0.0]["test/excluded"] == 1.0  # the repeat purchase is left out in the excluded mode
    assert by_weight[0.0]["test/eligible"] == 0.5 and by_weight[9.0]["test/eligible"] == 0.5
    assert by_weight[0.2]["validation/excluded"] == 0.0  # too light to lift the sequence model's pick
    assert found["best_on_validation"] == {"excluded": 9.0, "eligible": 9.0} and found["served"] == 1.0
    assert sequence_weight_sweep([TwoOrders()], test, [], "ndcg@1") == []  # no validation users: no sweep


def test_the_report_shows_the_sweep_with_the_served_weight_marked():
    rows = [{"weight": w, "validation/excluded": 0.1 * w, "validation/eligible": None, "test/excluded": 0.2,
             "test/eligible": 0.3} for w in (0.0, 1.0)]  # fmt: skip
    ranker = {"name": "attention[base]", "served": 1.0, "best_on_validation": {"excluded": 1.0, "eligible": 0.0},
              "rows": rows}  # fmt: skip
    result = {
        "config": {"primary": "ndcg@10"},
        "runs": [],
        "sequence_weight": [{"split": "last-item", "rows": [ranker]}],
    }
    text = render_markdown(result)
    assert "last-item split · attention[base]" in text and "best on validation: 1 excluded, 0 eligible" in text
    assert any(line.strip().startswith("1*") and "0.1000" in line and "n/a" in line for line in text.splitlines())
