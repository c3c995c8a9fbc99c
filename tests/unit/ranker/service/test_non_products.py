"""Items the catalog marks not recommendable (here POSTAGE, next to the red items): /v1/recommend, its popularity
fallback and /v1/similar never return them; /v1/search and /v1/rerank still find them, at the place retrieval gave
them, whatever the user's history says."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ranker.model import Scored
from ranker.service.lazy import Lazy
from ranker.service.ranking import keep_in_place
from tests.fakes.service import FakeActivity, FakeProfiles, FakeRanker, make_app

# u3 pays postage with every order: the fake ranker (history items with the same first letter) would lift it.
PROFILES = {"u1": [("A1", "purchase"), ("A2", "view")],
            "u3": [("POST", "purchase"), ("A1", "purchase"), ("POST", "purchase")]}  # fmt: skip


def client(**kw) -> tuple[TestClient, dict]:
    kw.setdefault("profiles", FakeProfiles(PROFILES))
    app, fakes = make_app(postage=True, **kw)
    return TestClient(app), fakes


def test_recommend_never_returns_postage_from_any_candidate_source():
    class PostageRanker(FakeRanker):
        seen: list[str] = []

        def score(self, history, candidates, now=None):
            PostageRanker.seen += [c.id for c in candidates]
            return super().score(history, candidates, now)

        def companions(self, history, n):
            return ["POST", "C1"]

        def trending(self, n):
            return ["POST"]

    c, _ = client(ranker=PostageRanker())
    for user in ("u1", "u3"):
        for include in ("true", "false"):
            body = c.get(f"/v1/recommend/{user}?k=10&include_purchased={include}").json()
            assert body["personalized"] is True and body["results"], (user, include)
            assert "POST" not in {r["id"] for r in body["results"]}, (user, include)
    assert PostageRanker.seen and "POST" not in PostageRanker.seen


def test_the_popularity_fallback_skips_postage_and_still_fills_k():
    activity = FakeActivity([("POST", 0.6), ("C1", 0.2), ("B1", 0.1), ("A1", 0.1)])
    c, _ = client(activity=activity)
    body = c.get("/v1/recommend/nobody?k=3").json()
    assert (body["source"], body["reason"]) == ("popularity", "unknown_user")
    assert [r["id"] for r in body["results"]] == ["C1", "B1", "A1"]

    def unavailable():
        raise RuntimeError("index is being rebuilt")

    c.app.state.deps.vectors = Lazy("item_vectors", unavailable)  # no vectors in memory: the flags from the index
    assert [r["id"] for r in c.get("/v1/recommend/nobody?k=1").json()["results"]] == ["C1"]


def test_similar_never_returns_postage_but_may_be_asked_about_it():
    c, fakes = client()
    near_red = c.get("/v1/similar/A1?k=4").json()
    assert [r["id"] for r in near_red["results"]] == ["A2", "B2", "B1", "C1"]  # POST is nearest to A1, left out
    assert fakes["index"].knn_calls[-1]["recommendable_only"] is True  # filtered in the query: k places kept
    of_postage = c.get("/v1/similar/POST?k=2&user_id=u3").json()
    assert [r["id"] for r in of_postage["results"]] == ["A1", "A2"]


def test_search_finds_postage_by_name_and_personalization_does_not_move_it():
    c, _ = client()
    postage_vector = [0.95, 0.05, 0.0, 0.0]
    anonymous = c.post("/v1/search", json={"query": "postage", "vector": postage_vector, "k": 3}).json()
    assert [r["id"] for r in anonymous["results"]] == ["POST", "A1", "A2"]
    body = c.post("/v1/search", json={"query": "postage", "vector": postage_vector, "k": 3, "user_id": "u3"}).json()
    assert body["personalized"] is True
    assert body["results"][0]["id"] == "POST" and body["results"][0]["explanations"] == []


def test_rerank_keeps_postage_at_its_place_while_the_products_move_around_it():
    hits = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "POST", "score": 0.75},
            {"id": "C1", "score": 0.7}, {"id": "A1", "score": 0.6}]  # fmt: skip
    c, _ = client(service={"search_personal_weight": 100.0})  # the user's order: the products move most
    body = c.post("/v1/rerank", json={"user_id": "u3", "hits": hits}).json()
    assert body["personalized"] is True
    # Without the rule u3's two postage purchases put POST first; the products are reordered around its place.
    assert [r["id"] for r in body["results"]] == ["A2", "A1", "POST", "B2", "C1"]
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and scores[2] == scores[1]  # the score of the result above
    assert body["results"][2]["retrieval_score"] == 0.75 and body["results"][2]["explanations"] == []


def test_keep_in_place_at_the_top_and_with_nothing_to_keep():
    scored = [Scored("b", 2.0, 0.5), Scored("P", 9.0, 0.9), Scored("a", 1.0, 0.7)]
    hits = [("P", 0.9), ("a", 0.7), ("b", 0.5)]
    out = keep_in_place(scored, hits, {"P"})
    assert [(s.id, s.score) for s in out] == [("P", 2.0), ("b", 2.0), ("a", 1.0)]
    assert keep_in_place(scored, hits, set()) is scored
    only = keep_in_place([Scored("P", 9.0, 0.9)], [("P", 0.9)], {"P"})
    assert [(s.id, s.score) for s in only] == [("P", 0.9)]
