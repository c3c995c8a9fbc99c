"""/v1/search pages over fakes: every page a slice of one ordering (the window in the user's order, then
retrieval's)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fakes.service import make_app

#: A window of 3 of the 5 fake items; the user's order all but alone inside it.
SERVICE = {"candidates": 3, "search_personal_weight": 100.0}


def _ids(body) -> list[str]:
    return [r["id"] for r in body["results"]]


def test_pages_are_slices_of_one_ordering_and_the_window_is_fixed():
    app, fakes = make_app(service=SERVICE)
    c = TestClient(app)
    query = {"query": "blue star", "user_id": "u1", "mode": "knn"}
    one = c.post("/v1/search", json={**query, "k": 5}).json()
    pages = [c.post("/v1/search", json={**query, "k": 2, "offset": o}).json() for o in (0, 2, 4)]
    assert [i for p in pages for i in _ids(p)] == _ids(one)
    assert len(set(_ids(one))) == 5
    plain = _ids(c.post("/v1/search", json={"query": "blue star", "k": 5, "mode": "knn"}).json())
    # u1 bought red items: within the window (retrieval's top 3) the red one comes first; past it, retrieval's order.
    assert sorted(_ids(one)[:3]) == sorted(plain[:3]) and _ids(one)[0] == "A2" and _ids(one)[3:] == plain[3:]
    assert [(p["offset"], p["window"], p["personalized"]) for p in pages] == [(0, 3, True), (2, 3, True), (4, 3, True)]
    assert one["total"] == 5
    # The window is always retrieved at its own depth; a page past it retrieves deeper for its tail only.
    assert [call["k"] for call in fakes["index"].knn_calls[-2:]] == [3, 5]
    tail = pages[2]["results"][0]
    assert tail["score"] == tail["retrieval_score"] and tail["explanations"] == []


def test_a_page_inside_the_window_reports_the_window_as_total_and_a_page_past_the_end_is_empty():
    c = TestClient(make_app(service=SERVICE)[0])
    inside = c.post("/v1/search", json={"query": "blue star", "k": 2, "offset": 1}).json()
    assert (inside["offset"], inside["total"], len(inside["results"])) == (1, 3, 2)
    past = c.post("/v1/search", json={"query": "blue star", "k": 2, "offset": 50}).json()
    assert past["results"] == [] and past["total"] == 5


def test_a_page_past_opensearchs_result_window_is_refused_naming_offset():
    c = TestClient(make_app()[0])
    r = c.post("/v1/search", json={"query": "blue star", "k": 10, "offset": 9_995})
    assert r.status_code == 422 and "offset" in r.text and "10000" in r.text
    assert c.post("/v1/search", json={"query": "blue star", "offset": -1}).status_code == 422
