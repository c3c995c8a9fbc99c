"""Ranking for a result list of ``k``: every candidate scored, only the ``k`` shown get (titled) explanations,
and a failure while explaining degrades like a failing model."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ranker.model.explanations import Explanation
from ranker.service.ranking import rank
from tests.fakes.service import FakeRanker, make_app


class CountingScored:
    """A scored candidate that counts how often its explanations are read (``fail``: reading them raises)."""

    reads = 0

    def __init__(self, id, score, retrieval_score, fail=False):
        self.id, self.score, self.retrieval_score, self.fail = id, score, retrieval_score, fail

    @property
    def explanations(self):
        CountingScored.reads += 1
        if self.fail:
            raise FloatingPointError("explaining failed")
        return [Explanation("A1", 0.5, "purchase")]


class LazyRanker(FakeRanker):
    def __init__(self, fail_explaining=False):
        super().__init__()
        self.fail_explaining = fail_explaining
        self.scored = 0

    def score(self, history, candidates, now=None):
        self.scored += len(candidates)
        # Unsorted on purpose: rank() sorts before it cuts.
        return [CountingScored(c.id, c.retrieval_score * (-1) ** n, c.retrieval_score, self.fail_explaining)
                for n, c in enumerate(candidates)]  # fmt: skip


def test_rank_with_a_limit_scores_all_and_explains_only_the_results_kept():
    ranker = LazyRanker()
    app, _ = make_app(ranker=ranker)
    hits = [(f"A{n}", 1.0 - n / 10) for n in range(8)]
    CountingScored.reads = 0
    ranking = rank(app.state.deps, "u1", hits, limit=3)
    assert ranker.scored == 8 and CountingScored.reads == 3
    assert [r.id for r in ranking.results] == ["A0", "A2", "A4"] and ranking.personalized
    assert ranking.results[0].explanations == [
        {"item_id": "A1", "title": "RED HEART MUG", "weight": 0.5, "type": "purchase"}
    ]
    assert len(rank(app.state.deps, "u1", hits).results) == 8  # no limit: every hit (what /v1/rerank returns)
    assert [r.id for r in rank(app.state.deps, None, hits, limit=2).results] == ["A0", "A1"]  # retrieval order


def test_a_failure_while_explaining_keeps_the_retrieval_order_flagged():
    app, _ = make_app(ranker=LazyRanker(fail_explaining=True))
    body = TestClient(app).post("/v1/search", json={"query": "red", "user_id": "u1", "k": 2}).json()
    assert (body["personalized"], body["reason"]) == (False, "model_unavailable") and len(body["results"]) == 2


def test_search_returns_k_results_with_the_catalog_fields():
    app, _ = make_app()
    r = TestClient(app).post("/v1/search", json={"query": "red", "user_id": "u1", "k": 2, "vector": [1, 0, 0, 0]})
    body = r.json()
    assert r.headers["content-type"] == "application/json" and body["query"] == "red"
    assert [(x["title"], x["category"], x["price"]) for x in body["results"]] == [
        ("RED HEART MUG", "kitchen", 2.5), ("RED HEART CUP", "kitchen", 2.5)
    ]  # fmt: skip
