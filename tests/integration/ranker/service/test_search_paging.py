"""/v1/search pages on the real stack (real node, MiniLM, SQLite profiles, a registered ranker): every page is a
slice of one ordering, and filters hold on every page."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.builders.service_stack import HEART_USER

pytestmark = pytest.mark.integration

QUERY = {"query": "heart t-light holder", "user_id": HEART_USER, "mode": "knn"}


def _ids(body) -> list[str]:
    return [r["id"] for r in body["results"]]


def _pages_and_one_call(post, query: dict) -> tuple[list[dict], dict]:
    pages = [post({**query, "k": 10, "offset": o}) for o in (0, 10, 20)]
    return pages, post({**query, "k": 30})


@pytest.fixture(scope="module")
def http(stack):
    with httpx.Client(base_url=stack.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def narrow(stack):
    """The same service with a window of 20, so page 3 lies past it (in-process, on the same node and store)."""
    from ranker.service import create_app

    service = stack.settings.service.model_copy(update={"candidates": 20, "allowed_hosts": "testserver"})
    with TestClient(create_app(stack.settings.model_copy(update={"service": service}))) as client:
        yield client


def test_pages_one_to_three_are_the_first_thirty_of_one_call(http):
    pages, one = _pages_and_one_call(lambda q: http.post("/v1/search", json=q).json(), QUERY)
    paged = [i for p in pages for i in _ids(p)]
    assert paged == _ids(one) and len(set(paged)) == 30
    assert all(p["personalized"] and p["window"] == 100 and p["total"] == 100 for p in pages)
    plain = _ids(http.post("/v1/search", json={**QUERY, "user_id": None, "k": 30}).json())
    assert paged != plain  # the user's order, not retrieval's


def test_past_the_window_pages_continue_in_retrieval_order_without_repeats(narrow):
    pages, one = _pages_and_one_call(lambda q: narrow.post("/v1/search", json=q).json(), QUERY)
    paged = [i for p in pages for i in _ids(p)]
    assert paged == _ids(one) and len(set(paged)) == 30
    plain = _ids(narrow.post("/v1/search", json={**QUERY, "user_id": None, "k": 30}).json())
    assert sorted(paged[:20]) == sorted(plain[:20])  # the window holds exactly retrieval's top 20
    assert paged[20:] == plain[20:]
    assert all(r["score"] == r["retrieval_score"] for r in pages[2]["results"])


def test_a_filtered_search_pages_within_the_filter(http):
    top = http.post("/v1/search", json={**QUERY, "k": 1}).json()["results"][0]
    filters = {"category": top["category"], "min_price": 0.1, "max_price": 50.0}
    pages, one = _pages_and_one_call(lambda q: http.post("/v1/search", json=q).json(), {**QUERY, "filters": filters})
    results = [r for p in pages for r in p["results"]]
    assert [r["id"] for r in results] == _ids(one) and len(results) > 10
    assert all(r["category"] == filters["category"] and 0.1 <= r["price"] <= 50.0 for r in results)
