"""The service's endpoints over fakes: ranking, explanations, fallbacks marked with their reason."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fakes.service import FakeIndex, FakeProfiles, make_app


def client(**kw) -> tuple[TestClient, dict]:
    app, fakes = make_app(**kw)
    return TestClient(app), fakes


#: The user's order all but alone (the query's order only breaks ties): what the tests of the ranker's order use.
USER_ORDER = {"search_personal_weight": 100.0}

HITS = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "C1", "score": 0.7}, {"id": "A1", "score": 0.6}]


def test_rerank_orders_by_the_ranker_with_titled_explanations():
    c, _ = client(service=USER_ORDER)
    body = c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()
    assert body["personalized"] is True and body["reason"] is None and body["model_version"] == "v-test"
    assert [r["id"] for r in body["results"]] == ["A2", "A1", "B2", "C1"]
    assert [r["retrieval_score"] for r in body["results"]] == [0.8, 0.6, 0.9, 0.7]
    top = body["results"][0]
    assert top["explanations"] == [{"item_id": "A1", "title": "RED HEART MUG", "weight": 0.9, "type": "purchase"}]
    assert body["results"][-1]["explanations"] == []


def test_rerank_for_unknown_anonymous_and_historyless_users_keeps_the_order_sent():
    profiles = FakeProfiles({"u1": [("A1", "purchase")]})
    profiles.events["quiet"] = [("A1", "search")]  # known to the store, nothing usable in the profile
    c, fakes = client(profiles=profiles)
    for user, reason in (("stranger", "unknown_user"), (None, "no_user"), ("quiet", "no_history")):
        body = c.post("/v1/rerank", json={"user_id": user, "hits": HITS}).json()
        assert (body["personalized"], body["reason"], body["model_version"]) == (False, reason, None), user
        assert [(r["id"], r["score"]) for r in body["results"]] == [(h["id"], h["score"]) for h in HITS]
    assert fakes["ranker"].calls == 0


def test_search_embeds_the_query_and_reranks_knn_candidates():
    c, fakes = client(service=USER_ORDER)
    body = c.post("/v1/search", json={"query": "blue star", "user_id": "u1", "k": 3}).json()
    assert body["source"] == "knn" and body["personalized"] is True
    assert len(body["results"]) == 3
    # k-NN alone puts the blue items first; u1 bought red ones, so the ranker lifts those.
    assert [r["id"] for r in body["results"]] == ["A2", "A1", "B1"]
    assert [r["title"] for r in body["results"][:2]] == ["RED HEART CUP", "RED HEART MUG"]
    assert fakes["index"].knn_calls[-1]["k"] == 100  # candidates beyond k, for the ranker to choose from
    anonymous = c.post("/v1/search", json={"query": "blue star", "k": 2}).json()
    assert [r["id"] for r in anonymous["results"]] == ["B1", "B2"] and anonymous["reason"] == "no_user"


def test_search_uses_hybrid_when_the_index_offers_it_and_passes_filters():
    c, fakes = client(index=FakeIndex(hybrid=True))
    body = c.post(
        "/v1/search", json={"query": "red", "k": 2, "filters": {"category": "kitchen", "max_price": 5}}
    ).json()
    assert body["source"] == "hybrid"
    assert fakes["index"].knn_calls[-1]["filters"] == {"category": "kitchen", "max_price": 5.0}
    assert c.post("/v1/search", json={"query": "red", "mode": "knn"}).json()["source"] == "knn"


def test_search_with_a_given_vector_skips_embedding_and_repeated_queries_are_cached():
    c, fakes = client()
    body = c.post("/v1/search", json={"query": "anything", "vector": [0, 0, 1, 0], "k": 1}).json()
    assert body["results"][0]["id"] == "C1" and fakes["embedder"].calls == 0
    timing = c.post("/v1/search", json={"query": "x", "vector": [0, 0, 1, 0]}).headers["server-timing"]
    assert [part.split(";")[0] for part in timing.split(", ")] == ["embed", "retrieve", "rank"]
    for _ in range(3):
        c.post("/v1/search", json={"query": "red heart", "k": 1})
    assert fakes["embedder"].calls == 1


def test_recommend_from_history_with_and_without_bought_items():
    c, _ = client()
    body = c.get("/v1/recommend/u1?k=5").json()
    assert body["source"] == "history_knn" and body["personalized"] is True
    assert {"A1", "A2"} <= {r["id"] for r in body["results"]}
    fresh = c.get("/v1/recommend/u1?k=5&include_purchased=false").json()
    assert "A1" not in {r["id"] for r in fresh["results"]}  # bought by u1
    assert "A2" in {r["id"] for r in fresh["results"]}  # only viewed


def test_recommend_setting_decides_the_default_for_bought_items():
    c, _ = client(service={"recommend_include_purchased": False})
    assert "A1" not in {r["id"] for r in c.get("/v1/recommend/u1?k=5").json()["results"]}


def test_recommend_for_an_unknown_user_is_popularity_marked_as_such():
    c, _ = client()
    body = c.get("/v1/recommend/nobody?k=3").json()
    assert (body["source"], body["personalized"], body["reason"]) == ("popularity", False, "unknown_user")
    assert [r["id"] for r in body["results"]] == ["C1", "B1", "A1"]  # ZZ is not in the catalog
    assert body["results"][0]["title"] == "GREEN LEAF VASE"


def test_similar_leaves_the_item_out_and_unknown_items_are_404():
    c, _ = client()
    body = c.get("/v1/similar/A1?k=2").json()
    assert [r["id"] for r in body["results"]] == ["A2", "B2"] and body["source"] == "item_knn"
    missing = c.get("/v1/similar/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.json()["error"]


def test_events_update_the_profile_that_the_next_rerank_reads():
    c, _ = client(service=USER_ORDER)
    assert c.post("/v1/rerank", json={"user_id": "new", "hits": HITS}).json()["reason"] == "unknown_user"
    event = {"user_id": "new", "item_id": "C1", "type": "purchase", "event_id": "order-1-line-1"}
    r = c.post("/v1/events", json={"events": [event]})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    body = c.post("/v1/rerank", json={"user_id": "new", "hits": HITS}).json()
    assert body["personalized"] is True and body["results"][0]["id"] == "C1"


def test_deleting_a_user_forgets_them():
    c, _ = client()
    r = c.delete("/v1/users/u1")
    assert r.status_code == 200 and r.json()["deleted"] is True and r.json()["removed"]["events"] == 2
    assert c.get("/v1/users/u1/export").json()["events"] == []
    assert c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()["reason"] == "unknown_user"


def test_health_readiness_and_metrics():
    c, fakes = client()
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["index"] == "items-v1"
    assert ready.json()["parts"]["model"] == "ready"
    c.post("/v1/rerank", json={"user_id": "stranger", "hits": HITS})
    c.get("/v1/recommend/u1")
    text = c.get("/metrics").text
    assert 'recsearch_requests_total{method="POST",route="/v1/rerank",status="200"} 1.0' in text
    assert 'route="/v1/recommend/{user_id}"' in text  # the template, not one series per user
    assert 'recsearch_fallbacks_total{reason="unknown_user"} 1.0' in text
    fakes["index"].down = True
    assert c.get("/readyz").status_code == 503


def test_storefront_page_and_openapi_docs_are_served():
    c, _ = client()
    page = c.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "https://doi.org/10.24432/C5BW33" in page.text and "Recommended for you" in page.text
    assert "fetch(" in c.get("/static/app.js").text
    assert c.get("/v1/storefront/users").json() == {"users": ["u1", "u2"]}
    assert "/v1/rerank" in c.get("/openapi.json").json()["paths"]
    assert c.get("/docs").status_code == 200


def test_recommend_adds_the_models_co_purchases_and_trending_items_to_the_knn_candidates():
    from tests.fakes.service import FakeRanker

    class PoolRanker(FakeRanker):
        seen: list[str] = []

        def score(self, history, candidates, now=None):
            PoolRanker.seen = [c.id for c in candidates]
            return super().score(history, candidates, now)

        def companions(self, history, n):
            return ["C1", "A1", "NOT-IN-CATALOG"]

        def trending(self, n):
            return ["B1"]

    c, _ = client(ranker=PoolRanker(), service={"recommend_candidates": 1})
    body = c.get("/v1/recommend/u1?k=1&include_purchased=false").json()
    assert body["personalized"] is True
    # k-NN gives A2 (A1 is bought and excluded); the model adds C1 and B1, never the bought A1 or an unknown id.
    assert sorted(PoolRanker.seen) == ["A2", "B1", "C1"]


def test_recommend_keeps_the_knn_candidates_when_the_models_own_candidates_fail():
    from core.errors import ModelError
    from tests.fakes.service import FakeRanker

    class BrokenStats(FakeRanker):
        def companions(self, history, n):
            raise ModelError("checkpoint statistics are corrupt")

    c, _ = client(ranker=BrokenStats())
    response = c.get("/v1/recommend/u1?k=3")
    assert response.status_code == 200 and response.json()["personalized"] is True
    assert len(response.json()["results"]) == 3


def test_recommend_leaves_out_purchases_older_than_the_profile():
    profiles = FakeProfiles({"u1": [("A1", "purchase"), ("A2", "view"), ("C1", "purchase")]})
    profiles.histories["u1"] = profiles.histories["u1"][:2]  # C1 was bought before the profile's newest N
    c, _ = client(profiles=profiles)
    assert "C1" in {r["id"] for r in c.get("/v1/recommend/u1?k=5&include_purchased=true").json()["results"]}
    fresh = {r["id"] for r in c.get("/v1/recommend/u1?k=5&include_purchased=false").json()["results"]}
    assert fresh and not fresh & {"A1", "C1"}


def test_recommend_adds_the_nearest_items_in_the_learned_space_when_the_index_holds_the_models_vectors():
    from tests.fakes.service import FakeRanker

    class PoolRanker(FakeRanker):
        seen: list[str] = []

        def score(self, history, candidates, now=None):
            PoolRanker.seen = [c.id for c in candidates]
            return super().score(history, candidates, now)

    ranker, index = PoolRanker(), FakeIndex()
    ranker.user = [1.0, 0.0]
    index.learned_vectors = {"C1": [1.0, 0.0], "B1": [0.5, 0.0], "A1": [2.0, 0.0], "A2": [-1.0, 0.0]}
    c, _ = client(ranker=ranker, index=index, service={"recommend_candidates": 1})
    c.get("/v1/recommend/u1?k=1&include_purchased=false")
    assert PoolRanker.seen == ["A2"]  # the index holds no learned vectors: the text k-NN alone
    index.learned = "v-other"
    c, _ = client(ranker=ranker, index=index, service={"recommend_candidates": 1})
    c.get("/v1/recommend/u1?k=1&include_purchased=false")
    assert PoolRanker.seen == ["A2"]  # another version's vectors are not this model's space
    assert {"k": 1, "field": "behaviour_vector"} not in index.knn_calls
    index.learned = ranker.version
    c, _ = client(ranker=ranker, index=index, service={"recommend_candidates": 1})
    c.get("/v1/recommend/u1?k=1&include_purchased=false")
    # The learned k-NN adds its nearest item; the bought A1 (nearer still) never comes back.
    assert sorted(PoolRanker.seen) == ["A2", "C1"]
    assert {"k": 1, "field": "behaviour_vector"} in index.knn_calls[-2:]  # beside the text k-NN


def test_personalized_search_reorders_what_the_query_matched_and_never_replaces_it():
    from tests.fakes.service import FakeRanker

    # 30 hits in the query's order; the user's taste (first letter "Z") ranks the last five first.
    hits = [{"id": f"Q{n:02d}", "score": 1 - n / 100} for n in range(25)]
    hits += [{"id": f"Z{n}", "score": 0.7 - n / 100} for n in range(5)]
    profiles = FakeProfiles({"u9": [("Z9", "purchase")]})
    items = {h["id"]: (h["id"], [1.0, 0.0, 0.0, 0.0]) for h in hits} | {"Z9": ("Z9", [1.0, 0.0, 0.0, 0.0])}
    parts = dict(profiles=profiles, index=FakeIndex(items=items), ranker=FakeRanker())
    ids = lambda body: [r["id"] for r in body["results"]]  # noqa: E731
    c, _ = client(**parts)  # the default weight (a quarter of the query's say): the query's top 10 stays
    top = ids(c.post("/v1/rerank", json={"user_id": "u9", "hits": hits}).json())
    assert all(i.startswith("Q") for i in top[:10]) and top.index("Z0") < 25  # Z0 was 26th
    c, _ = client(service={"search_personal_weight": 1.0}, **parts)  # the user as much say as the query
    body = c.post("/v1/rerank", json={"user_id": "u9", "hits": hits}).json()
    assert body["personalized"] is True
    top10 = ids(body)[:10]
    # The user's favourites climb (Z0 was 26th), the query's best stay: a fusion, not a replacement.
    assert top10.index("Z0") < 10 and "Q00" in top10[:3] and sum(i.startswith("Q") for i in top10) >= 6
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    c, _ = client(service={"search_personal_weight": 0.0}, **parts)  # no say: the query's order
    assert ids(c.post("/v1/rerank", json={"user_id": "u9", "hits": hits}).json()) == [h["id"] for h in hits]
    c, _ = client(service=USER_ORDER, **parts)  # all the say: the user's order
    assert ids(c.post("/v1/rerank", json={"user_id": "u9", "hits": hits}).json())[:5] == [f"Z{n}" for n in range(5)]
