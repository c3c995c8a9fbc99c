"""Paging a personalized search through the plugin on the real node and the real ranking service
(tests/builders/service_stack.py): every page is a slice of one ordering (the top ``max_hits`` hits reranked for
the user, then OpenSearch's order), and filters and a sort by a field keep working under the pipeline."""

from __future__ import annotations

import uuid

import pytest

from core.opensearch.client import make_client
from core.settings import PipelineSettings
from indexer.search_pipeline import install_pipeline, remove_pipeline
from tests.builders.service_stack import HEART_USER

pytestmark = pytest.mark.integration

QUERY = "heart t-light holder"
PAGE = 10


@pytest.fixture(scope="module")
def client(stack):
    return make_client(stack.settings.opensearch)


@pytest.fixture(scope="module", params=[100, 20], ids=["window-100", "window-20"])
def pipeline(request, stack):
    """A pipeline of its own whose window (``max_hits``) holds the three pages (100), or ends on page 2 (20)."""
    p = PipelineSettings(
        name=f"test-paging-{uuid.uuid4().hex[:8]}", ranker_url=stack.url, timeout_ms=10_000, max_hits=request.param
    )
    s = stack.settings.model_copy(update={"pipeline": p})
    install_pipeline(s)
    yield s.pipeline
    remove_pipeline(s)


@pytest.fixture(scope="module")
def knn(minilm) -> dict:
    vector = [float(x) for x in minilm.encode([QUERY])[0]]
    return {"knn": {"vector": {"vector": vector, "k": 100}}}


def _search(client, stack, body, pipeline=None, user=HEART_USER) -> dict:
    body = {**body, "_source": ["item_id", "category", "price"]}
    if user is not None:
        body["ext"] = {"personalize": {"user_id": user}}
    params = {"search_pipeline": pipeline} if pipeline else {}
    return client.search(index=stack.settings.opensearch.index_alias, body=body, params=params)


def _ids(response) -> list[str]:
    return [h["_source"]["item_id"] for h in response["hits"]["hits"]]


def _pages(client, stack, body, pipeline, n=3) -> list[dict]:
    return [_search(client, stack, {**body, "from": k * PAGE, "size": PAGE}, pipeline) for k in range(n)]


def test_pages_one_to_three_are_the_first_thirty_of_one_call(stack, client, pipeline, knn):
    body = {"query": knn}
    one = _search(client, stack, {**body, "size": 30}, pipeline.name)
    assert one["ext"]["personalized_rerank"]["personalized"] is True, one["ext"]
    assert one["ext"]["personalized_rerank"]["window"] == pipeline.max_hits
    pages = _pages(client, stack, body, pipeline.name)
    paged = [i for p in pages for i in _ids(p)]
    assert paged == _ids(one)  # nothing repeated, nothing skipped, the same order
    assert len(set(paged)) == 30
    plain = _search(client, stack, {**body, "size": 30}, user=None)
    assert all(p["hits"]["total"] == plain["hits"]["total"] for p in pages)  # OpenSearch's total, not the window's
    outcomes = [p["ext"]["personalized_rerank"] for p in pages]
    if pipeline.max_hits == 20:  # page 3 lies past the window: OpenSearch's order for those places, no ranker call
        assert [o["reason"] for o in outcomes] == [None, None, "beyond_window"]
        assert _ids(pages[2]) == _ids(plain)[20:30]
        assert sorted(paged[:20]) == sorted(_ids(plain)[:20])  # the window holds exactly OpenSearch's top 20
    else:
        assert all(o["personalized"] and o["window"] == 100 for o in outcomes), outcomes
    assert paged != _ids(plain)  # the ranker did reorder


def test_a_filtered_query_pages_within_the_filter(stack, client, pipeline):
    alias = stack.settings.opensearch.index_alias
    aggs = client.search(index=alias, body={"size": 0, "aggs": {"c": {"terms": {"field": "category.raw"}}}})
    category = aggs["aggregations"]["c"]["buckets"][0]["key"]  # the commonest category of this catalog
    clauses = [{"term": {"category.raw": category}}, {"range": {"price": {"gte": 0.5, "lte": 10.0}}}]
    body = {"query": {"bool": {"should": [{"multi_match": {"query": QUERY, "fields": ["title^2", "enriched_text"]}}],
                               "filter": clauses}}}  # fmt: skip
    one = _search(client, stack, {**body, "size": 30}, pipeline.name)
    pages = _pages(client, stack, body, pipeline.name)
    paged = [h for p in pages for h in p["hits"]["hits"]]
    assert len(paged) >= 11, "the filter leaves too few items to page"
    assert [h["_source"]["item_id"] for h in paged] == _ids(one)
    assert all(h["_source"]["category"] == category and 0.5 <= h["_source"]["price"] <= 10.0 for h in paged)
    assert pages[0]["ext"]["personalized_rerank"]["personalized"] is True


def test_a_sort_by_price_comes_back_in_price_order_page_by_page(stack, client, pipeline, knn):
    body = {"query": knn, "sort": [{"price": "asc"}, {"item_id": "asc"}]}
    one = _search(client, stack, {**body, "size": 30}, pipeline.name)
    pages = _pages(client, stack, body, pipeline.name)
    paged = [h for p in pages for h in p["hits"]["hits"]]
    assert [h["_source"]["item_id"] for h in paged] == _ids(one)
    prices = [h["_source"]["price"] for h in paged]
    assert prices == sorted(prices) and len(prices) == 30
    assert all(p["ext"]["personalized_rerank"]["reason"] == "sorted_by_field" for p in pages)
    assert _ids(one) == _ids(_search(client, stack, {**body, "size": 30}, user=None))  # the shop's order, untouched
