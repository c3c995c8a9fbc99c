"""The plugin's blend as the service computes it (ranker/service/blend.py), against cases worked out by hand:
``(1 - w) * minmax(OpenSearch) + w * minmax(ranker)``, all-equal scores scale to 0, an id the ranker left out counts
as its lowest score, and ties keep the order sent (the plugin's HitWindow.reorder)."""

from __future__ import annotations

import pytest

from ranker.service.blend import blend, blended, minmax
from ranker.service.ranking import RankedItem, Ranking


def _ranked(*pairs: tuple[str, float]) -> list[RankedItem]:
    return [RankedItem(i, s, 0.0, [{"item_id": "H", "weight": 1.0}]) for i, s in pairs]


def _ids(items: list[RankedItem]) -> list[str]:
    return [r.id for r in items]


def test_minmax_scales_to_the_unit_range_and_all_equal_values_to_zero():
    assert minmax([4.0, 2.0, 3.0]) == [1.0, 0.0, 0.5]
    assert minmax([7.0, 7.0, 7.0]) == [0.0, 0.0, 0.0]
    assert minmax([]) == []


def test_half_weight_blend_by_hand():
    # OpenSearch 4, 3, 2, 0 -> 1, .75, .5, 0; ranker D 10, C 6, B 2, A 0 -> A 0, B .2, C .6, D 1.
    hits = [("A", 4.0), ("B", 3.0), ("C", 2.0), ("D", 0.0)]
    ranker = _ranked(("D", 10.0), ("C", 6.0), ("B", 2.0), ("A", 0.0))
    out = blend(hits, ranker, 0.5)
    # A .5, B .475, C .55, D .5: C first, then A and D tied at .5 (A was sent first), then B.
    assert _ids(out) == ["C", "A", "D", "B"]
    assert [r.score for r in out] == pytest.approx([0.55, 0.5, 0.5, 0.475])
    assert out[0].explanations == ranker[1].explanations  # the ranker's explanations travel with the item


def test_weight_zero_is_opensearchs_order_and_weight_one_the_rankers():
    hits = [("A", 3.0), ("B", 2.0), ("C", 1.0)]
    ranker = _ranked(("C", 0.9), ("A", 0.5), ("B", 0.1))
    assert _ids(blend(hits, ranker, 0.0)) == ["A", "B", "C"]
    assert _ids(blend(hits, ranker, 1.0)) == ["C", "A", "B"]


def test_all_equal_scores_carry_no_preference_and_ties_keep_the_order_sent():
    hits = [("A", 5.0), ("B", 5.0), ("C", 5.0)]  # OpenSearch: no preference (all 0)
    ranker = _ranked(("B", 1.0), ("C", 1.0), ("A", 0.0))
    out = blend(hits, ranker, 0.5)
    # B .5, C .5 (tie: B was sent before C), A 0.
    assert _ids(out) == ["B", "C", "A"]
    assert [r.score for r in out] == [0.5, 0.5, 0.0]
    everything_equal = blend(hits, _ranked(("C", 2.0), ("B", 2.0), ("A", 2.0)), 0.7)
    assert _ids(everything_equal) == ["A", "B", "C"] and {r.score for r in everything_equal} == {0.0}


def test_an_id_the_ranker_left_out_counts_as_its_lowest_score():
    hits = [("A", 1.0), ("B", 2.0), ("C", 3.0)]
    ranker = _ranked(("A", 8.0), ("C", 4.0))  # B left out: counts as 4 (the lowest), like C
    out = blend(hits, ranker, 1.0)
    assert _ids(out) == ["A", "B", "C"]  # A 1, then B and C tied at 0 in the order sent
    missing = out[1]
    assert missing.id == "B" and missing.retrieval_score == 2.0 and missing.explanations == []
    # With OpenSearch's say as well: B .5 * .5 = .25, C .5 * 1 = .5, A .5 * 0 + .5 * 1 = .5 -> A, C (tie: A first), B.
    assert _ids(blend(hits, ranker, 0.5)) == ["A", "C", "B"]


def test_opensearch_scores_are_read_as_float32_like_the_plugin_reads_them():
    # 0.1 and float32(0.1) = 0.10000000149011612 differ in float64 (B would come first), but the plugin sends and
    # reads float32: they are one score, a tie that keeps the order sent.
    hits = [("A", 0.1), ("B", 0.10000000149011612), ("C", 0.0)]
    out = blend(hits, _ranked(("A", 0.0), ("B", 0.0), ("C", 0.0)), 0.0)
    assert _ids(out) == ["A", "B", "C"]
    assert [r.score for r in out] == [1.0, 1.0, 0.0]


def test_a_ranking_that_is_not_personalized_stays_in_the_order_sent():
    ranking = Ranking(_ranked(("A", 1.0), ("B", 2.0)), False, "no_history", None)
    assert blended(ranking, [("A", 1.0), ("B", 2.0)], 0.5) is ranking
    personal = Ranking(_ranked(("B", 2.0), ("A", 1.0)), True, None, "v1")
    assert _ids(blended(personal, [("A", 1.0), ("B", 2.0)], 1.0).results) == ["B", "A"]
