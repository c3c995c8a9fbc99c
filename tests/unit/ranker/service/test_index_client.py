"""Search hits read from doc values (no ``_source``): the fields a result list shows, prices as written, and the
service's fallback for a title too long for its keyword doc value."""

from __future__ import annotations

from indexer.search import Hit, docvalue_body, hits_from_response, knn_query
from ranker.service.index_client import ServiceIndex, uncompressed


def _docvalue_hit(item_id: str, score: float, title: str | None, price: float | None = 2.950000047683716) -> dict:
    fields = {"item_id": [item_id], "category.raw": ["kitchen"]}
    if title is not None:
        fields["title.raw"] = [title]
    if price is not None:
        fields["price"] = [price]
    return {"_index": "items-v1", "_score": score, "fields": fields}


def test_docvalue_body_fetches_no_stored_fields():
    body = docvalue_body(knn_query([0.1, 0.2], 100))
    assert "_source" not in body and body["stored_fields"] == "_none_"
    assert body["docvalue_fields"] == ["item_id", "title.raw", "category.raw", "price"]
    assert body["query"] == knn_query([0.1, 0.2], 100)["query"] and body["size"] == 100


def test_hits_from_doc_values_match_what_source_gives():
    response = {"hits": {"hits": [_docvalue_hit("85123A", 0.9, "WHITE HANGING HEART T-LIGHT HOLDER"),
                                  _docvalue_hit("22423", 0.5, "REGENCY CAKESTAND", price=None)]}}  # fmt: skip
    hits = hits_from_response(response)
    assert hits[0] == Hit("85123A", 0.9, "WHITE HANGING HEART T-LIGHT HOLDER", "kitchen", 2.95)
    assert hits[1].price is None and hits[1].title == "REGENCY CAKESTAND"
    # _source responses read as before.
    source = {"hits": {"hits": [{"_id": "1", "_score": 1.0, "_source": {"item_id": "1", "title": "T", "price": 2.95}}]}}
    assert hits_from_response(source) == [Hit("1", 1.0, "T", "", 2.95)]


class _FakeClient:
    def __init__(self, response: dict, titles: dict[str, str]):
        self.response, self.titles, self.mgets = response, titles, []

    def search(self, index, body):
        return self.response

    def mget(self, index, body, _source):
        self.mgets.append(list(body["ids"]))
        return {"docs": [{"_id": i, "found": True, "_source": {"item_id": i, "title": self.titles[i], "price": 1.0}}
                         for i in body["ids"]]}  # fmt: skip


def _catalog(client) -> ServiceIndex:
    catalog = ServiceIndex.__new__(ServiceIndex)
    catalog.client, catalog.alias, catalog.url = client, "items", "http://fake:9200"
    return catalog


def test_a_title_without_doc_value_is_read_by_id_and_only_then():
    long_title = "A" * 600  # over the keyword's ignore_above: no doc value
    response = {"hits": {"hits": [_docvalue_hit("1", 0.9, "SHORT"), _docvalue_hit("2", 0.8, None)]}}
    client = _FakeClient(response, {"2": long_title})
    hits = _catalog(client).knn([0.1, 0.2], 2)
    assert [(h.id, h.title, h.price) for h in hits] == [("1", "SHORT", 2.95), ("2", long_title, 2.95)]
    assert client.mgets == [["2"]]
    client = _FakeClient({"hits": {"hits": [_docvalue_hit("1", 0.9, "SHORT")]}}, {})
    assert [h.title for h in _catalog(client).knn([0.1, 0.2], 1)] == ["SHORT"] and client.mgets == []


def test_the_service_client_sends_and_takes_no_gzip():
    from core.opensearch.client import make_client
    from core.settings import OpenSearchSettings

    client = uncompressed(make_client(OpenSearchSettings(url="http://127.0.0.1:1")))
    for connection in client.transport.connection_pool.connections:
        assert connection.http_compress is False and "accept-encoding" not in connection.headers
