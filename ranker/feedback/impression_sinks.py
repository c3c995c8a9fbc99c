"""Where impressions are written and read back (``RECSEARCH_UBI_SINK``): the product's store or an OpenSearch index.

    StoreImpressions       ubi_queries + ubi_query_hits tables (SQLite or PostgreSQL), one transaction per batch
    OpenSearchImpressions  one ``ubi_queries``-shaped document per answer (id: query_response_id), bulk writes

Both write a batch (:meth:`write`) and answer what attribution needs: where each (query_id, item) was shown
(:meth:`placements`), how many answers showed a hit at each position (:meth:`shown_by_position`), and which
query_ids an online experiment served (:meth:`experiment_answers`). Writing an
answer twice (a retried batch) stores it once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from core.errors import ConfigError
from core.opensearch.client import make_client, translate_errors
from core.settings import OpenSearchSettings
from core.store import conflict_insert
from ranker.feedback.impressions import Impression
from ranker.feedback.tables import UbiHitRow, UbiQueryRow

#: (query_id, object_id) -> (position, placed_by) of where the item was shown for the query (its first place).
Placements = dict[tuple[str, str], tuple[int, str]]
#: query_id -> (model_version, timestamp) of the first answer of that query_id served under an experiment.
ExperimentAnswers = dict[str, tuple[str | None, datetime, str | None]]  # query_id -> (version, time, client_id)

#: The ``ubi_queries`` mapping of the UBI plugin, with our query_attributes typed (a shop's existing UBI index keeps
#: its own mapping: the documents' _source is what attribution reads).
UBI_QUERIES_MAPPING = {
    "dynamic": False,
    "properties": {
        "timestamp": {"type": "date"},
        "query_id": {"type": "keyword", "ignore_above": 100},
        "query_response_id": {"type": "keyword", "ignore_above": 100},
        "query_response_hit_ids": {"type": "keyword"},
        "user_query": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
        "client_id": {"type": "keyword", "ignore_above": 100},
        "application": {"type": "keyword", "ignore_above": 100},
        "query_attributes": {
            "properties": {
                "positions": {"type": "integer"},
                "placed_by": {"type": "keyword"},
                "model_version": {"type": "keyword"},
                "personalized": {"type": "boolean"},
                "reason": {"type": "keyword"},
                "experiment": {"type": "keyword"},
            }
        },
    },
}
_CHUNK = 500


class ImpressionSink(Protocol):
    """Writes impressions and reads back where items were shown."""

    def write(self, batch: Sequence[Impression]) -> None: ...

    def placements(self, query_ids: Iterable[str]) -> Placements: ...

    def shown_by_position(self) -> tuple[int, Counter]: ...

    def experiment_answers(self, experiment: str) -> ExperimentAnswers: ...


class StoreImpressions:
    """Impressions in the product's store. ``engine`` is a callable so the store is opened on first use (by the
    writer thread, off the request path)."""

    def __init__(self, engine: Callable[[], Engine]):
        self._engine = engine

    def write(self, batch: Sequence[Impression]) -> None:
        if not batch:
            return
        engine = self._engine()
        queries = [
            dict(query_response_id=i.query_response_id, query_id=i.query_id, client_id=i.client_id,
                 user_query=i.user_query, application=i.application, model_version=i.model_version,
                 personalized=i.personalized, reason=i.reason, timestamp=i.timestamp, experiment=i.experiment)
            for i in batch
        ]  # fmt: skip
        hits = [
            dict(query_response_id=i.query_response_id, position=h.position, query_id=i.query_id,
                 object_id=h.object_id, placed_by=h.placed_by)
            for i in batch for h in i.hits
        ]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(_insert_ignoring(conn, UbiQueryRow), queries)
            if hits:
                conn.execute(_insert_ignoring(conn, UbiHitRow), hits)

    def placements(self, query_ids: Iterable[str]) -> Placements:
        wanted = sorted(set(query_ids))
        t = UbiHitRow.__table__.c
        out: Placements = {}
        with self._engine().connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                part = wanted[start : start + _CHUNK]
                rows = conn.execute(
                    select(t.query_id, t.object_id, t.position, t.placed_by)
                    .where(t.query_id.in_(part))
                    .order_by(t.query_id, t.object_id, t.position)
                )
                for query_id, object_id, position, placed_by in rows:
                    out.setdefault((query_id, object_id), (int(position), placed_by))
        return out

    def shown_by_position(self) -> tuple[int, Counter]:
        """How many answers there are, and how many showed a hit at each position."""
        h = UbiHitRow.__table__.c
        with self._engine().connect() as conn:
            answers = conn.execute(select(func.count()).select_from(UbiQueryRow.__table__)).scalar_one()
            by_position = conn.execute(select(h.position, func.count()).group_by(h.position)).all()
        return int(answers), Counter({int(p): int(n) for p, n in by_position})

    def experiment_answers(self, experiment: str) -> ExperimentAnswers:
        """The query_ids answered under ``experiment``, oldest first, with the answer's model version, time and
        shopper (client_id)."""
        q = UbiQueryRow.__table__.c
        out: ExperimentAnswers = {}
        with self._engine().connect() as conn:
            rows = conn.execute(
                select(q.query_id, q.model_version, q.timestamp, q.client_id)
                .where(q.experiment == experiment)
                .order_by(q.timestamp, q.query_response_id)
            )
            for query_id, version, ts, client in rows:
                out.setdefault(query_id, (version, ts, client))
        return out


def _insert_ignoring(conn, model):
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL (a retried batch adds nothing)."""
    return conflict_insert(conn, model.__table__).on_conflict_do_nothing()


class OpenSearchImpressions:
    """Impressions as ``ubi_queries`` documents in ``index`` (created with :data:`UBI_QUERIES_MAPPING` when
    missing), written with the bulk API; the document id is the answer's ``query_response_id``."""

    def __init__(self, settings: OpenSearchSettings, index: str, client=None):
        self.settings = settings
        self.index = index
        self._client = client
        self._ready = False

    @property
    def client(self):
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def ensure_index(self) -> None:
        """Create the index with the UBI queries mapping unless it exists (the UBI plugin's own one is kept); an
        existing one gets ``query_attributes.experiment`` when it lacks it (:meth:`ensure_experiment_field`)."""
        if self._ready:
            return
        with translate_errors(self.settings.url, self.index):
            if not self.client.indices.exists(index=self.index):
                self.client.indices.create(index=self.index, body={"mappings": UBI_QUERIES_MAPPING}, ignore=400)
        self.ensure_experiment_field()
        self._ready = True

    def ensure_experiment_field(self) -> None:
        """An index made before online experiments has ``query_attributes`` without ``experiment``: the mapping is
        not dynamic, so the experiments' answers would be stored but never found. Add the keyword field (a mapping
        only grows: documents written before keep no experiment, and had none). ``query_attributes`` as a
        ``flat_object`` (the UBI plugin's mapping) is searchable by path already and is left as it is; the field
        mapped as anything but a keyword is a ConfigError naming the index."""
        with translate_errors(self.settings.url, self.index):
            mappings = self.client.indices.get_mapping(index=self.index)
            for name, body in mappings.items():
                attributes = ((body.get("mappings") or {}).get("properties") or {}).get("query_attributes")
                if attributes is not None and "properties" not in attributes:
                    continue  # flat_object: term queries on query_attributes.experiment work as they are
                kind = ((attributes or {}).get("properties") or {}).get("experiment", {}).get("type")
                if kind == "keyword":
                    continue
                if kind is not None:
                    raise ConfigError(f"index '{name}' (RECSEARCH_UBI_INDEX) maps query_attributes.experiment as "
                                      f"{kind}, not keyword: online experiments cannot find their answers in it; "
                                      "set RECSEARCH_UBI_INDEX to a new index")  # fmt: skip
                field = {"query_attributes": {"properties": {"experiment": {"type": "keyword"}}}}
                self.client.indices.put_mapping(index=name, body={"properties": field})

    def write(self, batch: Sequence[Impression]) -> None:
        if not batch:
            return
        from opensearchpy import helpers

        self.ensure_index()
        actions = [{"_index": self.index, "_id": i.query_response_id, "_source": i.ubi_query()} for i in batch]
        with translate_errors(self.settings.url, self.index):
            helpers.bulk(self.client, actions, chunk_size=_CHUNK, raise_on_error=True)

    def refresh(self) -> None:
        """Make what was written searchable now (tests, and `recadmin ubi report` right after a run)."""
        with translate_errors(self.settings.url, self.index):
            self.client.indices.refresh(index=self.index)

    def _scan(self, query: dict, extra: Sequence[str] = ()) -> Iterable[dict]:
        from opensearchpy import helpers

        fields = ["query_id", "query_response_hit_ids", "query_attributes", *extra]
        with translate_errors(self.settings.url, self.index):
            if not self.client.indices.exists(index=self.index):
                return
            for doc in helpers.scan(self.client, index=self.index, query={"query": query, "_source": fields}):
                yield doc["_source"]

    def placements(self, query_ids: Iterable[str]) -> Placements:
        wanted = sorted(set(query_ids))
        out: Placements = {}
        for start in range(0, len(wanted), _CHUNK):
            for doc in self._scan({"terms": {"query_id": wanted[start : start + _CHUNK]}}):
                for object_id, position, placed_by in _hits_of(doc):
                    key = (doc["query_id"], object_id)
                    if key not in out or position < out[key][0]:
                        out[key] = (position, placed_by)
        return out

    def shown_by_position(self) -> tuple[int, Counter]:
        answers, counts = 0, Counter()
        for doc in self._scan({"match_all": {}}):
            answers += 1
            counts.update(position for _, position, _ in _hits_of(doc))
        return answers, counts

    def experiment_answers(self, experiment: str) -> ExperimentAnswers:
        out: ExperimentAnswers = {}
        found = []
        for doc in self._scan({"term": {"query_attributes.experiment": experiment}}, extra=["timestamp", "client_id"]):
            ts = datetime.fromisoformat(str(doc["timestamp"]).removesuffix("Z"))
            version = (doc.get("query_attributes") or {}).get("model_version")
            found.append((ts, doc["query_id"], version, doc.get("client_id")))
        for ts, query_id, version, client in sorted(found, key=lambda f: f[0]):
            out.setdefault(query_id, (version, ts, client))
        return out


def _hits_of(doc: dict) -> list[tuple[str, int, str]]:
    """(object_id, position, placed_by) of a ubi_queries document; one written by another UBI client (no positions)
    counts its hits from 1 and says nothing of what placed them."""
    ids = doc.get("query_response_hit_ids") or []
    attributes = doc.get("query_attributes") or {}
    positions = attributes.get("positions") or list(range(1, len(ids) + 1))
    placed = attributes.get("placed_by") or [""] * len(ids)
    return [(str(i), int(p), str(b)) for i, p, b in zip(ids, positions, placed, strict=False)]
