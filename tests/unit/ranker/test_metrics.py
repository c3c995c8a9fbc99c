"""Ranking metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from ranker.metrics import case_metrics, coverage, rank_of_first, sampled_metrics, stack

RANKED = ["a", "b", "c", "d", "e"]
TARGETS = {"b", "d", "x"}  # x is never retrieved


def test_full_ranking_metrics_match_hand_computed_values():
    m = case_metrics(RANKED, TARGETS, ks=[2, 5])
    # K=5: hits at ranks 2 and 4.
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # min(3 targets, K) ideal hits
    assert m["ndcg@5"] == pytest.approx(dcg / idcg)
    assert m["ndcg@5"] == pytest.approx(0.498190, abs=1e-6)
    assert m["recall@5"] == pytest.approx(2 / 3)
    assert m["precision@5"] == pytest.approx(0.4)
    assert m["f1@5"] == pytest.approx(0.5)
    assert m["hr@5"] == 1.0
    assert m["mrr@5"] == pytest.approx(0.5)
    assert m["map@5"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    # K=2: one hit at rank 2; the ideal has 2 hits.
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert m["recall@2"] == pytest.approx(1 / 3)
    assert m["precision@2"] == pytest.approx(0.5)
    assert m["f1@2"] == pytest.approx(0.4)
    assert m["map@2"] == pytest.approx(0.25)


def test_perfect_and_empty_rankings():
    perfect = case_metrics(["b", "d", "x", "a"], TARGETS, ks=[3])
    assert perfect["ndcg@3"] == pytest.approx(1.0)
    assert perfect["map@3"] == pytest.approx(1.0)
    assert perfect["recall@3"] == 1.0
    empty = case_metrics([], TARGETS, ks=[5])
    assert all(v == 0.0 for v in empty.values())
    miss = case_metrics(["a", "c"], TARGETS, ks=[5])
    assert miss["hr@5"] == 0.0 and miss["mrr@5"] == 0.0 and miss["f1@5"] == 0.0


def test_a_case_without_targets_is_an_error():
    with pytest.raises(ValueError):
        case_metrics(RANKED, set(), ks=[5])


def test_sampled_metrics_and_ties_count_against_the_target():
    assert rank_of_first([0.9, 0.1, 0.95, 0.3]) == 1
    assert rank_of_first([0.5, 0.5, 0.5]) == 2  # a constant scorer gets no credit
    m = sampled_metrics(1, ks=[1, 5])
    assert m["hr@1"] == 0.0 and m["ndcg@1"] == 0.0
    assert m["hr@5"] == 1.0 and m["ndcg@5"] == pytest.approx(1 / math.log2(3))
    assert m["mrr"] == pytest.approx(0.5)


def test_coverage_counts_distinct_items_in_the_top_k():
    assert coverage([["a", "b", "c"], ["a", "d", "e"]], 2, 10) == pytest.approx(0.3)
    assert coverage([], 5, 10) == 0.0


def test_stack_keeps_case_order():
    cols = stack([{"x": 1.0}, {"x": 0.0}, {"x": 0.5}])
    assert list(cols["x"]) == [1.0, 0.0, 0.5]
