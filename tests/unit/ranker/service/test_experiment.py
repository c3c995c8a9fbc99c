"""Serving under an experiment, over fakes: users the running experiment covers get the team-draft interleaving of
the two versions' orders (the same list for the same request), or their A/B arm's order; each answer is recorded
under the experiment with the version that placed each item; no experiment, or a user outside it, is served as
before. The real store, node and service: tests/integration/ranker/service/test_experiment.py."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from ranker.experiments import Experiment, arm_of, in_experiment
from ranker.model import Scored
from tests.builders.interleaving import team_draft_violation
from tests.fakes.service import FakeRanker, make_app

HITS = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "C1", "score": 0.7}, {"id": "A1", "score": 0.6},
        {"id": "B1", "score": 0.5}]  # fmt: skip
#: The user's order outweighs the query's: the two versions' orders differ.
SERVICE = {"search_personal_weight": 100.0}


class Versioned(FakeRanker):
    """FakeRanker under another version; ``reverse`` orders the candidates the other way round."""

    def __init__(self, version: str, reverse: bool = False):
        super().__init__()
        self.version, self.reverse = version, reverse

    def score(self, history, candidates, now=None):
        scored = super().score(history, candidates, now)
        return [Scored(s.id, -s.score, s.retrieval_score, s.explanations) for s in scored] if self.reverse else scored


def _client(mode: str = "interleave", traffic: float = 1.0, running: bool = True):
    experiment = Experiment("exp-1", mode, "v1", "v2", traffic, "running", datetime(2026, 1, 1))
    scorers = {"v1": Versioned("v1"), "v2": Versioned("v2", reverse=True)}
    app, fakes = make_app(SERVICE, experiments=lambda: experiment if running else None, scorers=scorers)
    return TestClient(app), fakes["impressions"], scorers


def _rerank(client, user: str = "u1", query_id: str = "q"):
    return client.post("/v1/rerank", json={"user_id": user, "hits": HITS, "query_id": query_id}).json()


def _order_of(ranker) -> list[str]:
    """The order ``ranker`` gives the hits when it is the active one and no experiment runs."""
    app, _ = make_app(SERVICE, ranker=ranker, experiments=lambda: None)
    with TestClient(app) as client:
        return [r["id"] for r in _rerank(client)["results"]]


def test_users_in_an_interleaving_experiment_get_both_versions_mixed_and_recorded_by_team():
    client, log, scorers = _client()
    with client:
        body = _rerank(client)
        again = _rerank(client, query_id="q2")
    ids = [r["id"] for r in body["results"]]
    assert ids == [r["id"] for r in again["results"]]  # the same request, the same list
    assert body["model_version"] == "v1+v2" and sorted(ids) == sorted(h["id"] for h in HITS)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)  # falling with the place (a request without blend_weight)
    imp = log.recorded[0]
    assert imp.experiment == "exp-1" and [h.object_id for h in imp.hits] == ids
    placed = [h.placed_by for h in imp.hits]
    assert set(placed) == {"v1", "v2"} and abs(placed.count("v1") - placed.count("v2")) <= 1
    orders = {v: _order_of(Versioned(v, reverse=v == "v2")) for v in ("v1", "v2")}
    assert orders["v1"] != orders["v2"]
    for version, order in orders.items():
        mine = [h.object_id for h in imp.hits if h.placed_by == version]
        assert mine == [i for i in order if i in mine]  # each team's items in its own ranker's order
    # the first two places hold both versions' first choices (they differ here)
    assert set(ids[:2]) == {orders["v1"][0], orders["v2"][0]}


def test_ab_users_get_their_arms_order_and_no_experiment_changes_nothing():
    client, log, _ = _client(mode="ab")
    users = ["u1", "u2"]
    with client:
        for user in users:
            client.get(f"/v1/recommend/{user}", params={"k": 3})
    for imp, user in zip(log.recorded, users, strict=True):
        version = "v1" if arm_of("exp-1", user) == "control" else "v2"
        assert imp.experiment == "exp-1" and imp.model_version == version
        assert {h.placed_by for h in imp.hits} == {version}
    client, log, _ = _client(running=False)
    with client:
        body = _rerank(client)
    assert log.recorded[0].experiment is None and body["model_version"] == "v-test"


def test_users_outside_the_traffic_share_and_cold_users_are_not_in_the_experiment():
    outside = next(f"u{n}" for n in range(100) if not in_experiment("exp-1", f"u{n}", 0.5))
    client, log, _ = _client(traffic=0.5)
    with client:
        _rerank(client, user=outside)
        client.get("/v1/recommend/stranger", params={"k": 2})  # no history: popularity, nothing to compare
    assert [imp.experiment for imp in log.recorded] == [None, None]


def _blended_order_of(ranker, weight: float) -> list[str]:
    """What the plugin shows for ``ranker`` alone (active, no experiment) at ``weight``."""
    app, _ = make_app(SERVICE, ranker=ranker, experiments=lambda: None)
    with TestClient(app) as client:
        body = client.post("/v1/rerank", json={"user_id": "u1", "hits": HITS, "blend_weight": weight}).json()
    assert body["blended"] is True
    return [r["id"] for r in body["results"]]


def test_under_the_plugins_blend_the_interleaving_is_a_team_draft_of_the_two_blended_lists():
    client, log, _ = _client()
    page = {"from": 0, "size": 5, "positions": [0, 1, 2, 3, 4]}
    with client:
        body = client.post("/v1/rerank", json={"user_id": "u1", "hits": HITS, "query_id": "q", "blend_weight": 0.5,
                                               "page": page}).json()  # fmt: skip
    assert body["blended"] is True and body["model_version"] == "v1+v2"
    ids = [r["id"] for r in body["results"]]
    imp = log.recorded[0]
    assert [h.object_id for h in imp.hits] == ids and [h.position for h in imp.hits] == [1, 2, 3, 4, 5]
    lists = {v: _blended_order_of(Versioned(v, reverse=v == "v2"), 0.5) for v in ("v1", "v2")}
    assert lists["v1"] != lists["v2"]
    assert team_draft_violation(ids, [h.placed_by for h in imp.hits], lists) is None
    # The raw rankers' lists differ from the blended ones: the draft was not made of those.
    raw = {v: _order_of(Versioned(v, reverse=v == "v2")) for v in ("v1", "v2")}
    assert raw != lists
    assert team_draft_violation(ids, [h.placed_by for h in imp.hits], raw) is not None


def test_ab_under_the_plugins_blend_shows_the_arms_blended_order():
    client, log, _ = _client(mode="ab")
    with client:
        body = client.post("/v1/rerank", json={"user_id": "u1", "hits": HITS, "blend_weight": 0.5}).json()
    version = "v1" if arm_of("exp-1", "u1") == "control" else "v2"
    assert [r["id"] for r in body["results"]] == _blended_order_of(Versioned(version, reverse=version == "v2"), 0.5)
    assert {h.placed_by for h in log.recorded[0].hits} == {version}
