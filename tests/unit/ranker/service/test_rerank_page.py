"""POST /v1/rerank with the plugin's blend_weight and page: the answer is the blended order the plugin shows
(``blended: true``), and the impression recorded is exactly the page shown, each id at its place in the whole
ordering; without the new fields (an older plugin) nothing changes. Over fakes; the plugin on the real node:
tests/integration/plugin/test_shown_page.py."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ranker.service.blend import blend
from ranker.service.ranking import RankedItem
from tests.fakes.service import make_app

#: The user's order all but alone (the query's order only breaks ties).
USER_ORDER = {"search_personal_weight": 100.0}

HITS = [{"id": "B2", "score": 0.9}, {"id": "A2", "score": 0.8}, {"id": "C1", "score": 0.7}, {"id": "A1", "score": 0.6},
        {"id": "C2", "score": 0.5}]  # fmt: skip


def _client():
    app, fakes = make_app(USER_ORDER)
    return TestClient(app), fakes["impressions"]


def _rerank(client, **fields):
    return client.post("/v1/rerank", json={"user_id": "u1", "hits": HITS, "query_id": "q", **fields})


def _recorded(log) -> list[tuple[str, int, str]]:
    return [(h.object_id, h.position, h.placed_by) for h in log.recorded[-1].hits]


def test_with_a_blend_weight_the_answer_is_the_blended_order_of_the_rankers_scores():
    client, log = _client()
    with client:
        plain = _rerank(client).json()
        body = _rerank(client, blend_weight=0.4).json()
    assert plain["blended"] is False and body["blended"] is True
    ranker = [RankedItem(r["id"], r["score"], r["retrieval_score"]) for r in plain["results"]]
    expected = blend([(h["id"], h["score"]) for h in HITS], ranker, 0.4)
    assert [r["id"] for r in body["results"]] == [r.id for r in expected]
    assert [r["score"] for r in body["results"]] == [r.score for r in expected]
    assert [r["id"] for r in body["results"]] != [r["id"] for r in plain["results"]]  # the blend changed something
    # No page: the answer is recorded in its order from place 1.
    assert [(i, p) for i, p, _ in _recorded(log)] == [(r["id"], n + 1) for n, r in enumerate(body["results"])]


def test_the_impression_is_the_page_shown_at_its_places_in_the_whole_ordering():
    client, log = _client()
    # The five hits sit at places 0, 1, 3, 4, 5 (a hit without an id at 2); the page is [2, 5).
    page = {"from": 2, "size": 3, "positions": [0, 1, 3, 4, 5]}
    with client:
        body = _rerank(client, blend_weight=0.5, page=page).json()
    ids = [r["id"] for r in body["results"]]
    shown = dict(zip(page["positions"], ids, strict=True))  # what the plugin puts in each slot
    assert _recorded(log) == [(shown[3], 4, "v-test"), (shown[4], 5, "v-test")]
    imp = log.recorded[-1]
    assert imp.query_id == "q" and imp.personalized and imp.model_version == "v-test"


def test_a_page_past_the_slots_records_nothing_shown_and_a_fallback_records_the_order_sent():
    client, log = _client()
    with client:
        _rerank(client, blend_weight=0.5, page={"from": 10, "size": 10, "positions": [0, 1, 2, 3, 4]})
        assert log.recorded[-1].hits == ()
        # An unknown user: the plugin shows OpenSearch's order, the page [0, 3) of it is recorded as retrieval's.
        page = {"from": 0, "size": 3, "positions": [0, 1, 2, 3, 4]}
        body = client.post("/v1/rerank", json={"user_id": "stranger", "hits": HITS, "blend_weight": 0.5,
                                               "page": page}).json()  # fmt: skip
    assert body["personalized"] is False and body["blended"] is False
    assert _recorded(log) == [("B2", 1, "retrieval"), ("A2", 2, "retrieval"), ("C1", 3, "retrieval")]


def test_an_older_plugin_without_the_new_fields_is_answered_and_recorded_as_before():
    client, log = _client()
    with client:
        body = _rerank(client).json()
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and body["blended"] is False
    assert [(i, p) for i, p, _ in _recorded(log)] == [(r["id"], n + 1) for n, r in enumerate(body["results"])]


def test_bad_blend_weight_and_page_values_are_422s_naming_the_field():
    client, _ = _client()
    good = {"from": 0, "size": 5, "positions": [0, 1, 2, 3, 4]}
    cases = [
        ({"blend_weight": 1.5}, "blend_weight"),
        ({"blend_weight": -0.1}, "blend_weight"),
        ({"blend_weight": 0.5, "page": {**good, "from": -1}}, "page.from"),
        ({"blend_weight": 0.5, "page": {**good, "size": -3}}, "page.size"),
        ({"blend_weight": 0.5, "page": {**good, "positions": [0, 1, 1, 2, 3]}}, "page.positions"),
        ({"blend_weight": 0.5, "page": {**good, "positions": [0, 1, 2]}}, "page.positions"),
        ({"blend_weight": 0.5, "page": {"size": 5, "positions": [0, 1, 2, 3, 4]}}, "page.from"),
    ]
    with client:
        for fields, name in cases:
            answer = _rerank(client, **fields)
            assert answer.status_code == 422, fields
            assert name in answer.json()["error"], (fields, answer.json())
        twice = client.post("/v1/rerank", json={"user_id": "u1", "hits": HITS[:2] + HITS[:1], "blend_weight": 0.5,
                                                "page": {"from": 0, "size": 3, "positions": [0, 1, 2]}})  # fmt: skip
    assert twice.status_code == 422 and "hits" in twice.json()["error"]
