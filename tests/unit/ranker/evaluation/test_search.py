"""The personalized-search protocol on a tiny catalog: its queries, its retrieval, and what it says of a ranker that
keeps to the query and one that does not."""

from __future__ import annotations

import pytest

from ranker.evaluation.search import QueryBuilder, QueryRetrieval, evaluate_search, search_cases
from ranker.evaluation.splits import TestCase
from tests.fakes.embedder import HashEmbedder
from tests.fakes.evaluation import FakeSearch, make_catalog

TEXTS = {
    "mug-red": "red ceramic mug", "mug-blue": "blue ceramic mug", "mug-green": "green ceramic mug",
    "mug-pink": "pink ceramic mug with heart", "vase": "blue glass vase", "bowl": "blue ceramic bowl",
    "lamp": "red heart lamp", "card": "red birthday card",
}  # fmt: skip
EMBEDDER = HashEmbedder(64)


@pytest.fixture
def catalog():
    return make_catalog(TEXTS, EMBEDDER)


def case(user, history, targets):
    return TestCase(user, tuple(history), tuple([None] * len(history)), tuple(targets))


def test_a_query_is_the_items_most_common_words_and_only_new_items_make_one(catalog):
    builder = QueryBuilder(catalog, words=2)
    assert builder.query("mug-blue") == ("ceramic", "mug")  # in 5, 4 and 3 items: "blue" is the least common
    assert builder.query("nope") is None
    assert builder.matches("mug-pink", ["ceramic", "mug"]) and not builder.matches("vase", ["ceramic"])
    cases = [case("u1", ["lamp"], ["lamp", "mug-blue"]), case("u2", ["card"], ["card"])]
    found = search_cases(cases, builder)
    # u1's lamp is a repeat purchase: the query comes from the mug; u2 bought nothing new.
    assert [(s.case.user_id, s.target) for s in found] == [("u1", "mug-blue")]


class QueryBlind:
    """Orders every query's hits by the user's taste alone: the items holding a word of their history first."""

    name = "query-blind"

    def personal_order(self, case, hits):
        liked = {w for item in case.history for w in TEXTS[item].split()}
        return sorted((i for i, _ in hits), key=lambda i: -len(liked & set(TEXTS[i].split())))


class FindsTheTarget:
    """Knows what the user will buy: the target first, the query's order otherwise."""

    name = "oracle"

    def __init__(self, targets):
        self.targets = targets

    def personal_order(self, case, hits):
        ids = [i for i, _ in hits]
        target = self.targets[case.user_id]
        return [target, *(i for i in ids if i != target)] if target in ids else ids


def test_the_protocol_sees_a_ranker_leave_the_query_and_one_find_what_was_bought(catalog):
    builder = QueryBuilder(catalog, words=2)
    retrieval = QueryRetrieval(FakeSearch(catalog), lambda texts: EMBEDDER.encode(texts), size=8, mode="hybrid")
    test = [case("u1", ["lamp", "card"], ["mug-pink"]), case("u2", ["vase"], ["mug-green"])]
    result = evaluate_search([QueryBlind(), FindsTheTarget({"u1": "mug-pink", "u2": "mug-green"})], test, [],
                             builder, retrieval, served_weight=1.0, samples=200, top=3)  # fmt: skip
    assert result["served_weight"] == 1.0 and [r["name"] for r in result["rows"]] == ["query-blind", "oracle"]
    blind, oracle = (r["test"] for r in result["rows"])
    assert blind["searches"] == 2 and "validation" not in result["rows"][0]
    weights = {w["weight"]: w for w in blind["weights"]}
    # The user's order alone leaves the query (the red and blue things u1/u2 like come first); fused, less so.
    assert weights["user order"]["adherence_ratio"] < 1.0
    assert weights["0.25"]["adherence_ratio"] >= weights["user order"]["adherence_ratio"]
    best = {w["weight"]: w for w in oracle["weights"]}
    # Knowing the target lifts it to the top with all the say, and a fused order still lifts it.
    assert best["user order"]["mrr"] == 1.0 and best["1"]["mrr"] >= oracle["anonymous"]["mrr"]
    assert best["user order"]["mrr_diff"]["diff"] == pytest.approx(1.0 - oracle["anonymous"]["mrr"])
