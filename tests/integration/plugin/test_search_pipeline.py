"""The recsearch-rerank plugin on the real node, calling the real ranking service (tests/integration/service_stack:
Online Retail sample indexed with MiniLM, SQLite profiles, a registered ranker checkpoint, uvicorn).

What a shop sees: the same search with ``search_pipeline`` and ``ext.personalize.user_id`` comes back reordered
by the blend of docs/architecture.md, differently per user, and in the original order when the ranker is down."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

from core.opensearch.client import make_client
from core.errors import ConfigError
from indexer.search_pipeline import install_pipeline, pipeline_status, remove_pipeline
from core.settings import PipelineSettings, Settings
from tests.builders.service_stack import HEART_USER, MUG_USER

pytestmark = pytest.mark.integration

QUERY = "heart t-light holder"


@pytest.fixture(scope="module")
def client(stack):
    return make_client(stack.settings.opensearch)


def _pipeline(stack, **fields) -> Settings:
    """Install a pipeline of its own for one test; removed at the end of the module's use of it."""
    p = PipelineSettings(name=f"test-personalized-{uuid.uuid4().hex[:8]}", ranker_url=stack.url, **fields)
    s = stack.settings.model_copy(update={"pipeline": p})
    install_pipeline(s)
    return s


@pytest.fixture(scope="module")
def personalized(stack):
    # A generous timeout: the first call may load the model; these tests are about order, not speed. The window
    # (max_hits) is the 40 hits asked for, so the blend is checked on exactly the hits shown (paging: test_pagination).
    s = _pipeline(stack, blend_weight=0.5, timeout_ms=10_000, max_hits=40)
    yield s
    remove_pipeline(s)


def _queries(minilm) -> dict[str, dict]:
    vector = [float(x) for x in minilm.encode([QUERY])[0]]
    match = {"multi_match": {"query": QUERY, "fields": ["title^2", "enriched_text"]}}
    knn = {"knn": {"vector": {"vector": vector, "k": 40}}}
    return {
        "bm25": {"size": 40, "query": match},
        "knn": {"size": 40, "query": knn},
        # Hybrid without the neural-search plugin: one bool query whose clauses add BM25 and k-NN scores.
        "hybrid": {"size": 40, "query": {"bool": {"should": [match, knn]}}},
    }


def _search(client, alias, body, pipeline=None, user=None) -> dict:
    body = dict(body)
    if user is not None:
        body["ext"] = {"personalize": {"user_id": user}}
    params = {"search_pipeline": pipeline} if pipeline else {}
    return client.search(index=alias, body=body, params=params)


def _ids(response) -> list[str]:
    return [h["_source"]["item_id"] for h in response["hits"]["hits"]]


def _minmax(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [0.0 if hi - lo <= 1e-12 else (v - lo) / (hi - lo) for v in values]


def _expected_blend(plain: dict, ranker_answer: dict, w: float) -> dict[str, float]:
    """docs/architecture.md: final = (1 - w) * minmax(opensearch) + w * minmax(ranker), over the hits sent."""
    ids = _ids(plain)
    os_scores = _minmax([h["_score"] for h in plain["hits"]["hits"]])
    by_id = {r["id"]: r["score"] for r in ranker_answer["results"]}
    rk_scores = _minmax([by_id[i] for i in ids])
    return {i: (1 - w) * o + w * r for i, o, r in zip(ids, os_scores, rk_scores)}


@pytest.mark.parametrize("kind", ["bm25", "knn", "hybrid"])
def test_hits_come_back_in_the_blended_order_for_the_user(stack, client, personalized, minilm, kind):
    body = _queries(minilm)[kind]
    alias = stack.settings.opensearch.index_alias
    plain = _search(client, alias, body)
    assert len(plain["hits"]["hits"]) >= 10
    ranked = _search(client, alias, body, personalized.pipeline.name, HEART_USER)
    outcome = ranked["ext"]["personalized_rerank"]
    assert outcome["personalized"] is True and outcome["reason"] is None, outcome
    assert outcome["reranked"] == len(plain["hits"]["hits"]) and outcome["model_version"]
    # What the ranker itself says for exactly these hits and this user.
    sent = [{"id": h["_source"]["item_id"], "score": h["_score"]} for h in plain["hits"]["hits"]]
    answer = httpx.post(f"{stack.url}/v1/rerank", json={"user_id": HEART_USER, "hits": sent}, timeout=60).json()
    expected = _expected_blend(plain, answer, 0.5)
    got = [(h["_source"]["item_id"], h["_score"]) for h in ranked["hits"]["hits"]]
    assert sorted(i for i, _ in got) == sorted(expected)  # the same hits, none lost or added
    assert all(abs(score - expected[i]) < 1e-4 for i, score in got), got
    assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    assert _ids(ranked) != _ids(plain)  # the ranker did change something


def test_different_users_get_different_orders_and_no_user_gets_the_original(stack, client, personalized, minilm):
    body = _queries(minilm)["knn"]
    alias, name = stack.settings.opensearch.index_alias, personalized.pipeline.name
    plain = _ids(_search(client, alias, body))
    heart = _search(client, alias, body, name, HEART_USER)
    mug = _search(client, alias, body, name, MUG_USER)
    assert heart["ext"]["personalized_rerank"]["personalized"] and mug["ext"]["personalized_rerank"]["personalized"]
    assert _ids(heart) != _ids(mug)
    assert sorted(_ids(heart)) == sorted(_ids(mug)) == sorted(plain)
    anonymous = _search(client, alias, body, name)
    assert _ids(anonymous) == plain and anonymous["ext"]["personalized_rerank"]["reason"] == "no_user"
    stranger = _search(client, alias, body, name, "never-seen-user")
    assert _ids(stranger) == plain
    assert stranger["ext"]["personalized_rerank"]["reason"] == "unknown_user"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_ranker_that_is_down_gives_the_original_order_with_the_reason(stack, client, minilm):
    body = _queries(minilm)["bm25"]
    alias = stack.settings.opensearch.index_alias
    plain = _ids(_search(client, alias, body))
    s = _pipeline(stack, timeout_ms=300)
    try:
        s.pipeline.ranker_url = f"http://127.0.0.1:{_closed_port()}"
        install_pipeline(s)
        down = _search(client, alias, body, s.pipeline.name, HEART_USER)
        assert _ids(down) == plain
        outcome = down["ext"]["personalized_rerank"]
        assert (outcome["personalized"], outcome["reason"]) == (False, "ranker_unreachable")
        assert "detail" not in outcome  # the cause is in the node's log, not in the response
    finally:
        remove_pipeline(s)


def test_a_silent_ranker_times_out_to_the_original_order(stack, client, minilm):
    body = _queries(minilm)["bm25"]
    alias = stack.settings.opensearch.index_alias
    plain = _ids(_search(client, alias, body))
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        s = _pipeline(stack, timeout_ms=300)
        try:
            s.pipeline.ranker_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
            install_pipeline(s)
            slow = _search(client, alias, body, s.pipeline.name, HEART_USER)
        finally:
            remove_pipeline(s)
    assert _ids(slow) == plain
    outcome = slow["ext"]["personalized_rerank"]
    assert outcome["reason"] == "ranker_timeout"
    assert outcome["took_ms"] >= 300


def test_without_ignore_failure_a_ranker_failure_fails_the_search_naming_the_reason(stack, client, minilm):
    from opensearchpy.exceptions import TransportError

    s = _pipeline(stack, ignore_failure=False)
    try:
        s.pipeline.ranker_url = f"http://127.0.0.1:{_closed_port()}"
        install_pipeline(s)
        with pytest.raises(TransportError) as failure:
            _search(client, stack.settings.opensearch.index_alias, _queries(minilm)["bm25"], s.pipeline.name, HEART_USER)
        assert failure.value.status_code == 502 and "ranker_unreachable" in str(failure.value.info)
    finally:
        remove_pipeline(s)


@pytest.mark.parametrize(
    ("field", "value"),
    [("blend_weight", 1.5), ("timeout_ms", 0), ("max_hits", 5000), ("ranker_url", "ftp://ranker")],
)
def test_bad_settings_are_refused_at_creation_naming_the_setting(stack, field, value):
    p = PipelineSettings(name=f"test-bad-{uuid.uuid4().hex[:8]}", ranker_url=stack.url).model_copy(update={field: value})
    s = stack.settings.model_copy(update={"pipeline": p})
    with pytest.raises(ConfigError, match=f"RECSEARCH_PIPELINE_{field.upper()}"):
        install_pipeline(s)
    assert pipeline_status(s).installed is False
