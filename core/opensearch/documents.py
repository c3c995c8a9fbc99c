"""Reading the items index back: every document of a version, and the live version behind an alias as columns.

The one reader of the live catalog for every part that needs it in memory: the ranker's item vectors, the
evaluation's and the fine-tuning's item texts and vectors; and the lookup of which of some item ids a version holds
(what imported events are checked against, at a cost that follows the events, not the catalog).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import IndexMissing
from core.opensearch.client import translate_errors

if TYPE_CHECKING:
    from opensearchpy import OpenSearch


def _version_mapping(client: OpenSearch, name: str, url: str) -> tuple[str, dict[str, Any]]:
    """The concrete index ``name`` (an alias or an index) points at, the newest if an alias ever points at more, and
    its mapping (one request gives both). Raises :class:`IndexMissing` when ``name`` does not exist."""
    with translate_errors(url, name):
        if not client.indices.exists(index=name):
            raise IndexMissing(
                f"index '{name}' does not exist on {url}; build it with `recadmin index build --catalog PATH`"
            )
        mappings = client.indices.get_mapping(index=name)
    version = sorted(mappings)[-1]
    return version, mappings[version].get("mappings") or {}


def live_version(client: OpenSearch, name: str, url: str = "") -> str:
    """The concrete index ``name`` (an alias or an index) points at; the newest if an alias ever points at more.

    Raises :class:`IndexMissing` (with the command that builds one) when ``name`` does not exist."""
    return _version_mapping(client, name, url)[0]


def version_state(client: OpenSearch, index: str, url: str = "") -> str:
    """A fingerprint of the concrete index ``index`` that changes with every write to it: its name and uuid, and
    each primary shard's highest sequence number (every index, update and delete takes the next one; it survives
    restarts). Equal fingerprints: the same documents."""
    with translate_errors(url, index):
        stats = client.indices.stats(index=index, metric="docs", level="shards")["indices"][index]
    shards = sorted(
        (int(n), copy["seq_no"]["max_seq_no"])
        for n, copies in stats["shards"].items()
        for copy in copies
        if copy["routing"]["primary"]
    )
    return f"{index}/{stats.get('uuid', '')}/" + ",".join(f"{n}:{seq}" for n, seq in shards)


def existing_ids(client: OpenSearch, index: str, ids: list[str], url: str = "", chunk: int = 2000) -> set[str]:
    """Those of ``ids`` that are documents of ``index`` (a document's ``_id`` is its item id): multi-gets of
    ``chunk`` ids without their source, so the cost follows ``len(ids)``, not the index's size."""
    found: set[str] = set()
    with translate_errors(url, index):
        for start in range(0, len(ids), chunk):
            docs = client.mget(index=index, body={"ids": ids[start : start + chunk]}, _source=False)["docs"]
            found.update(d["_id"] for d in docs if d.get("found"))
    return found


def iter_documents(
    client: OpenSearch, index: str, fields: list[str], page_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every document of ``index`` (hits with ``_id`` and the ``fields`` of ``_source``), paged with
    ``search_after`` on ``item_id``.

    Never a scroll: on OpenSearch 3.5 with k-NN derived source (the default before this project's mapping turned it
    off), a scroll over a k-NN index leaves its vector files closed, and every later vector read on that index fails
    (``already_closed_exception``) until it is reopened. A version is not rewritten while it is read, so
    search_after without a point in time sees one consistent set of documents."""
    after: list | None = None
    while True:
        body: dict[str, Any] = {"size": page_size, "_source": fields, "sort": [{"item_id": "asc"}],
                                "query": {"match_all": {}}}  # fmt: skip
        if after is not None:
            body["search_after"] = after
        hits = client.search(index=index, body=body)["hits"]["hits"]
        yield from hits
        if len(hits) < page_size:
            return
        after = hits[-1]["sort"]


#: The fields :meth:`ItemDocuments.texts` reads.
TEXT_FIELDS = ["enriched_text", "text", "title"]


@dataclass
class ItemDocuments:
    """Every document of one index version as columns: ``ids`` and, per field read, one value per id (None where a
    document lacks the field)."""

    version: str
    meta: dict[str, Any]
    ids: list[str]
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def texts(self) -> list[str]:
        """The text each item's vector embeds: the enriched text where the index holds one, else the item's own text,
        else its title (read with :data:`TEXT_FIELDS`)."""
        c = self.columns
        return [e or t or title or "" for e, t, title in zip(c["enriched_text"], c["text"], c["title"], strict=True)]


def read_items(client: OpenSearch, name: str, fields: list[str], url: str = "", page_size: int = 1000) -> ItemDocuments:
    """Every document of the version ``name`` points at (an alias or a concrete index), with its ``_meta``.

    Raises :class:`IndexMissing` (with the command that builds one) when ``name`` does not exist."""
    version, mapping = _version_mapping(client, name, url)
    meta = dict(mapping.get("_meta") or {})
    with translate_errors(url, name):
        wanted = [f for f in dict.fromkeys(["item_id", *fields])]
        ids: list[str] = []
        columns: dict[str, list[Any]] = {f: [] for f in wanted if f != "item_id"}
        for hit in iter_documents(client, version, wanted, page_size):
            source = hit.get("_source") or {}
            ids.append(str(source.get("item_id", hit["_id"])))
            for f, values in columns.items():
                values.append(source.get(f))
    return ItemDocuments(version, meta, ids, columns)
