"""The service's OpenSearch client: k-NN, hybrid and by-id reads of the live items index, with the service's own
(short) timeout and without gzip on the request path."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from core.errors import OpenSearchError
from core.opensearch.client import make_client, translate_errors
from core.redact import without_userinfo
from core.settings import Settings
from indexer.index import ItemsIndex
from indexer.learned import learned_model
from indexer.search import Hit, bm25_query, docvalue_body, hits_from_response, knn_query, rrf_fuse

if TYPE_CHECKING:
    from opensearchpy import OpenSearch


#: What the service shows of an item, read by id (``mget``); searches read the same from doc values instead.
RESULT_FIELDS = ["item_id", "title", "category", "price"]


def filter_clauses(filters: dict[str, Any] | None) -> list[dict[str, Any]]:
    """OpenSearch filter clauses for the service's :class:`~ranker.service.schemas.Filters`."""
    if not filters:
        return []
    clauses: list[dict[str, Any]] = []
    if filters.get("category"):
        clauses.append({"term": {"category.raw": filters["category"]}})
    price = {
        op: filters[key] for op, key in (("gte", "min_price"), ("lte", "max_price")) if filters.get(key) is not None
    }
    if price:
        clauses.append({"range": {"price": price}})
    return clauses


def uncompressed(client: OpenSearch) -> OpenSearch:
    """``client`` sending its requests and taking its answers without gzip. A search body carries the query vector
    (384 floats, ~8 kB of JSON) that gzip at level 9 takes about half a millisecond to pack, and the node then gzips
    the answer back: on the request path of every search, for a node that is normally on the same network."""
    for connection in client.transport.connection_pool.connections:
        connection.http_compress = False
        connection.headers.pop("accept-encoding", None)
    client.transport.kwargs["http_compress"] = False  # connections opened later (sniffing) alike
    return client


class ServiceIndex:
    """The live items index, queried with the service's own (short) timeout, uncompressed."""

    def __init__(self, settings: Settings):
        os_settings = settings.opensearch.model_copy(
            update={"timeout_s": settings.service.opensearch_timeout_s, "max_retries": 1}
        )
        self.client = uncompressed(make_client(os_settings))
        self.alias = os_settings.index_alias
        self.url = without_userinfo(os_settings.url)  # only for messages: no user:password@
        self.index = ItemsIndex(self.client, self.alias, self.url)

    def _errors(self):
        return translate_errors(self.url, self.alias)

    def knn(
        self,
        vector: Sequence[float],
        k: int,
        filters: dict[str, Any] | None = None,
        *,
        recommendable_only: bool = False,
    ) -> list[Hit]:
        """The ``k`` nearest items to ``vector`` that pass ``filters`` (and, ``recommendable_only``, are not marked
        not recommendable: what recommends)."""
        with self._errors():
            body = self._knn_body(vector, k, filters, recommendable_only)
            response = self.client.search(index=self.alias, body=body)
        return self._titled(hits_from_response(response))

    def knn_ids(self, vector: Sequence[float], k: int, exclude: Collection[str], field: str = "vector") -> list[str]:
        """The ids of the ``k`` nearest items to ``vector`` in the k-NN ``field`` that are neither in ``exclude`` nor
        marked not recommendable (filtered in the query, so such items never take one of the ``k`` places): the
        recommendation pool's k-NN."""
        query = knn_query([float(x) for x in vector], k, exclude=exclude, recommendable_only=True, field=field)
        body = {**query, "_source": False, "docvalue_fields": ["item_id"]}
        with self._errors():
            response = self.client.search(index=self.alias, body=body)
        return [h["fields"]["item_id"][0] for h in response["hits"]["hits"]]

    @staticmethod
    def _knn_body(
        vector: Sequence[float], k: int, filters: dict[str, Any] | None, recommendable_only: bool = False
    ) -> dict[str, Any]:
        # Candidate pools of ~100 hits: the result fields come from doc values, not _source (see docvalue_body).
        body = docvalue_body(knn_query([float(x) for x in vector], k, recommendable_only=recommendable_only))
        clauses = filter_clauses(filters)
        if clauses:
            knn = body["query"]["knn"]["vector"]
            knn.setdefault("filter", {"bool": {}})["bool"]["filter"] = clauses
        return body

    def _titled(self, hits: list[Hit]) -> list[Hit]:
        """``hits`` with the titles doc values could not give (over the keyword's 512 characters) read by id."""
        untitled = [h.id for h in hits if not h.title]
        if not untitled:
            return hits
        found = self.items(untitled)
        return [
            Hit(h.id, h.score, found[h.id].title, h.category, h.price) if not h.title and h.id in found else h
            for h in hits
        ]

    def hybrid(self, query: str, vector: Sequence[float], k: int, filters: dict[str, Any] | None = None) -> list[Hit]:
        """BM25 and k-NN (``k`` hits each, both filtered) fused with the indexer's reciprocal rank fusion, in one
        ``_msearch``."""
        bm25 = docvalue_body(bm25_query(query, k))
        clauses = filter_clauses(filters)
        if clauses:
            bm25["query"] = {"bool": {"must": [bm25["query"]], "filter": clauses}}
        body = [{}, bm25, {}, self._knn_body(vector, k, filters)]
        with self._errors():
            response = self.client.msearch(index=self.alias, body=body)
        rankings = []
        for part in response["responses"]:
            if "error" in part:
                raise OpenSearchError(f"search on '{self.alias}' failed: {part['error'].get('reason', part['error'])}")
            rankings.append(hits_from_response(part))
        return self._titled(rrf_fuse(rankings, k))

    def bm25(self, query: str, k: int, filters: dict[str, Any] | None = None) -> list[Hit]:
        """The ``k`` best BM25 hits for ``query`` that pass ``filters``: the text retrieval of an index whose vectors
        are the shop's own with no model to embed a query into their space."""
        body = docvalue_body(bm25_query(query, k))
        clauses = filter_clauses(filters)
        if clauses:
            body["query"] = {"bool": {"must": [body["query"]], "filter": clauses}}
        with self._errors():
            response = self.client.search(index=self.alias, body=body)
        return self._titled(hits_from_response(response))

    def items(self, ids: Sequence[str]) -> dict[str, Hit]:
        """Title, category and price of the ids that exist in the live index."""
        if not ids:
            return {}
        with self._errors():
            response = self.client.mget(index=self.alias, body={"ids": list(ids)}, _source=RESULT_FIELDS)
        docs = [d for d in response["docs"] if d.get("found")]
        hits = hits_from_response({"hits": {"hits": [{**d, "_score": 0.0} for d in docs]}})
        return {h.id: h for h in hits}

    def unrecommendable(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that the live index marks not recommendable."""
        if not ids:
            return set()
        with self._errors():
            response = self.client.mget(index=self.alias, body={"ids": list(ids)}, _source=["recommendable"])
        docs = [d for d in response["docs"] if d.get("found")]
        return {d["_id"] for d in docs if (d.get("_source") or {}).get("recommendable") is False}

    def vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored vectors of the ids that exist."""
        if not ids:
            return {}
        with self._errors():
            response = self.client.mget(index=self.alias, body={"ids": list(ids)}, _source=["item_id", "vector"])
        return {
            d["_source"].get("item_id", d["_id"]): d["_source"]["vector"] for d in response["docs"] if d.get("found")
        }

    def ping(self) -> str:
        """The live index version (raises ClusterUnreachable / IndexMissing)."""
        return self.index.require_live()

    def embedding_model(self) -> str | None:
        """The embedding model the live version was built with (its ``_meta.embedding_model``; None: not recorded)."""
        return self.index.meta(self.ping()).get("embedding_model")

    def dimension(self) -> int | None:
        """The live version's vector dimension (its ``_meta.dimension``; None: not recorded)."""
        dim = self.index.meta(self.ping()).get("dimension")
        return int(dim) if dim else None

    def learned_model(self) -> str | None:
        """The model version whose learned item vectors the live version holds (None: none)."""
        return learned_model(self.index)
