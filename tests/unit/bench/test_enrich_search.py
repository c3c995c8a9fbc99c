"""The enrichment search bench's scoring: the protocol's query words, the bought item's rank and adherence@10."""

from __future__ import annotations

import numpy as np

from bench.bench_enrich_search import score, searches


def test_queries_are_the_words_of_the_bought_item_most_catalog_items_hold():
    texts = {
        "a": "RED RETROSPOT BAG",
        "b": "JUMBO BAG RED",
        "c": "RED MUG",
        "d": "BAG CHARM",
        "e": "42",  # no word: no search
    }
    cases = searches([("a", "b"), ("c", "a"), ("a", "e")], texts)
    # "bag" is in 3 texts, "red" in 3, "jumbo" in 1: the two most common, ties by the word
    assert cases == [("b", ("bag", "red")), ("a", ("bag", "red"))]


def test_reciprocal_rank_hit_and_adherence_per_case():
    words = {"x": {"red", "bag"}, "y": {"red"}, "z": {"bag", "red", "jumbo"}}.get
    cases = [("z", ("bag", "red")), ("q", ("bag", "red")), ("x", ("red",))]
    orders = [["y", "x", "z"], ["x", "y"], []]
    got = score(orders, cases, lambda i: words(i, set()))
    np.testing.assert_allclose(got["rr"], [1 / 3, 0.0, 0.0])
    np.testing.assert_allclose(got["hit@10"], [1.0, 0.0, 0.0])
    # case 1: x and z hold both words of 3 shown; case 2: x of 2; case 3: nothing shown
    np.testing.assert_allclose(got["adherence@10"], [2 / 3, 1 / 2, 0.0])


def test_a_target_past_the_tenth_place_is_ranked_but_not_a_hit():
    order = [f"i{n}" for n in range(12)]
    got = score([order], [("i11", ("w",))], lambda i: set())
    assert got["rr"][0] == 1 / 12
    assert got["hit@10"][0] == 0.0
    assert got["adherence@10"][0] == 0.0
