"""Fakes of the service's outside parts (OpenSearch, profile store, ranker, event statistics) for unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.errors import ClusterUnreachable, ModelError, OpenSearchError
from core.settings import ServiceSettings, Settings
from indexer.search import Hit
from ranker.feedback.profiles import IngestResult
from ranker.model.explanations import Explanation, Scored
from ranker.model.network import RankerConfig
from ranker.service import ServiceDeps, create_app

ITEMS = {
    "A1": ("RED HEART MUG", [1.0, 0.0, 0.0, 0.0]),
    "A2": ("RED HEART CUP", [0.9, 0.1, 0.0, 0.0]),
    "B1": ("BLUE STAR PLATE", [0.0, 1.0, 0.0, 0.0]),
    "B2": ("BLUE STAR BOWL", [0.1, 0.9, 0.0, 0.0]),
    "C1": ("GREEN LEAF VASE", [0.0, 0.0, 1.0, 0.0]),
}
#: A non-product (``make_app(postage=True)``): next to the red items, marked not recommendable.
POSTAGE = {"POST": ("POSTAGE", [0.95, 0.05, 0.0, 0.0])}


@dataclass(frozen=True)
class FakeInteraction:
    item_id: str
    type: str
    ts: datetime
    weight: float


class FakeIndex:
    """Cosine k-NN over :data:`ITEMS` (or ``items``; ``unrecommendable`` marks some not recommendable); ``down``
    makes every call fail like an unreachable cluster; without ``hybrid`` the hybrid search fails like an index
    without BM25 fields."""

    def __init__(self, hybrid: bool = False, items: dict | None = None, unrecommendable: frozenset[str] = frozenset()):
        self.down = False
        self.with_hybrid = hybrid
        self.items_ = ITEMS if items is None else items
        self.not_recommendable = set(unrecommendable)
        self.knn_calls: list[dict] = []
        self.bm25_calls: list[dict] = []
        #: The live version's ``_meta.dimension``.
        self.dim = 4
        #: The model version whose learned vectors the index holds, and those vectors (id -> vector).
        self.learned: str | None = None
        self.learned_vectors: dict[str, list[float]] = {}
        #: The live version's ``_meta.embedding_model``.
        self.embedding = "fake"

    def _check(self):
        if self.down:
            raise ClusterUnreachable("cannot reach OpenSearch at http://fake:9200 (ConnectionError)")

    def knn(self, vector, k, filters=None, *, recommendable_only=False):
        self._check()
        self.knn_calls.append({"k": k, "filters": filters, "recommendable_only": recommendable_only})
        q = np.asarray(vector, dtype=np.float32)
        scored = []
        for i, (title, v) in self.items_.items():
            if recommendable_only and i in self.not_recommendable:
                continue
            v = np.asarray(v, dtype=np.float32)
            cos = float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v) + 1e-9))
            scored.append(Hit(i, (1 + cos) / 2, title, "kitchen", 2.5))
        return sorted(scored, key=lambda h: h.score, reverse=True)[:k]

    def knn_ids(self, vector, k, exclude, field="vector"):
        if field != "vector":
            self._check()
            self.knn_calls.append({"k": k, "field": field})
            q = np.asarray(vector, dtype=np.float32)
            scored = sorted(self.learned_vectors, key=lambda i: -float(q @ np.asarray(self.learned_vectors[i])))
            return [i for i in scored if i not in exclude and i not in self.not_recommendable][:k]
        hits = self.knn(vector, len(self.items_), recommendable_only=True)
        return [h.id for h in hits if h.id not in exclude][:k]

    def hybrid(self, query, vector, k, filters=None):
        self._check()
        if not self.with_hybrid:
            raise OpenSearchError("search on 'items' failed: no BM25 fields")
        return [Hit(h.id, h.score + 1.0, h.title, h.category, h.price) for h in self.knn(vector, k, filters)]

    def bm25(self, query, k, filters=None):
        """Items whose title shares a word with ``query``, by the number of shared words."""
        self._check()
        self.bm25_calls.append({"query": query, "k": k, "filters": filters})
        words = set(query.lower().split())
        scored = [(len(words & set(t.lower().split())), i, t) for i, (t, _) in self.items_.items()]
        hits = [Hit(i, float(n), t, "kitchen", 2.5) for n, i, t in sorted(scored, key=lambda s: -s[0]) if n]
        return hits[:k]

    def items(self, ids):
        self._check()
        return {i: Hit(i, 0.0, self.items_[i][0], "kitchen", 2.5) for i in ids if i in self.items_}

    def vectors(self, ids):
        self._check()
        return {i: self.items_[i][1] for i in ids if i in self.items_}

    def unrecommendable(self, ids):
        self._check()
        return {i for i in ids if i in self.not_recommendable}

    def ping(self):
        self._check()
        return "items-v1"

    def learned_model(self):
        self._check()
        return self.learned

    def embedding_model(self):
        self._check()
        return self.embedding

    def dimension(self):
        self._check()
        return self.dim


class FakeVectors:
    def __init__(self, items: dict | None = None, unrecommendable: frozenset[str] = frozenset()):
        self.items_ = ITEMS if items is None else items
        self.ids = list(self.items_)
        self.row = {i: n for n, i in enumerate(self.ids)}
        self.vectors = np.asarray([v for _, v in self.items_.values()], dtype=np.float32)
        self.not_recommendable = set(unrecommendable)
        self.dim = 4
        self.source = "items-v1"

    def get(self, ids):
        rows = np.asarray([self.row.get(i, -1) for i in ids])
        out = self.vectors[np.where(rows >= 0, rows, 0)].copy()
        out[rows < 0] = 0
        return out, rows >= 0

    def unrecommendable(self, ids):
        return {i for i in ids if i in self.not_recommendable}

    def title(self, item_id):
        return self.items_[item_id][0] if item_id in self.items_ else ""


class FakeProfiles:
    """In-memory profiles; ``fail`` makes reads and writes raise like a broken database."""

    def __init__(self, histories: dict[str, list[tuple[str, str]]] | None = None):
        self.fail = False
        self.events: dict[str, list] = {}
        self.histories: dict[str, list[FakeInteraction]] = {}
        for user, items in (histories or {}).items():
            self.histories[user] = [FakeInteraction(i, t, datetime(2011, 12, 1), 1.0) for i, t in items]
            self.events[user] = list(items)

    def _check(self):
        if self.fail:
            raise RuntimeError("database is locked")

    def history(self, user_id, limit=None):
        self._check()
        return list(self.histories.get(user_id, []))[:limit]

    def known(self, user_id):
        return user_id in self.events

    def ping(self):
        self._check()

    def purchased(self, user_id):
        self._check()
        return {item for item, type_ in self.events.get(user_id, []) if type_ == "purchase"}

    def ingest(self, events):
        self._check()
        for e in events:
            self.events.setdefault(e.user_id, []).append((e.item_id, e.type))
            if e.item_id:
                self.histories.setdefault(e.user_id, []).insert(
                    0, FakeInteraction(e.item_id, e.type, datetime(2011, 12, 2), 1.0)
                )
        return IngestResult(len(events), len(events), 0, [], len({e.user_id for e in events}))

    def delete_user(self, user_id):
        self._check()
        gone = len(self.events.pop(user_id, []))
        self.histories.pop(user_id, None)
        return {"events": gone, "profile_entries": gone}

    def export_user(self, user_id):
        return {"user_id": user_id, "events": [list(e) for e in self.events.get(user_id, [])]}


class FakeRanker:
    """Scores a candidate by how many history items share its first letter (ties: retrieval score), and names
    the newest such history item as the explanation. ``fail`` raises like a broken model."""

    version = "v-test"
    config = RankerConfig(history_length=50, feature_history=50)

    def __init__(self):
        self.fail = False
        self.calls = 0
        #: The user's vector in the learned space (None: a version without a sequence model).
        self.user = None

    def user_vector(self, history):
        return None if self.user is None else np.asarray(self.user, dtype=np.float32)

    def companions(self, history, n):
        return []

    def trending(self, n):
        return []

    def score(self, history, candidates, now=None):
        self.calls += 1
        if self.fail:
            raise ModelError("checkpoint is corrupt")
        out = []
        for c in candidates:
            same = [h for h in history if h.item_id[0] == c.id[0]]
            out.append(Scored(c.id, len(same) + c.retrieval_score / 10, c.retrieval_score,
                              [Explanation(h.item_id, 0.9, h.type) for h in same[:1]]))  # fmt: skip
        return sorted(out, key=lambda s: s.score, reverse=True)


class FakeActivity:
    def __init__(self, ranked: list[tuple[str, float]] | None = None):
        # ZZ is not in the catalog
        self.ranked = [("C1", 0.5), ("B1", 0.3), ("A1", 0.2), ("ZZ", 0.1)] if ranked is None else ranked

    def popular(self, k, exclude=None):
        return [(i, s) for i, s in self.ranked if i not in (exclude or set())][:k]

    def active_users(self, k):
        return ["u1", "u2"][:k]


def make_app(service: dict | None = None, postage: bool = False, **parts):
    """An app over fakes; ``service`` overrides ServiceSettings fields; ``postage`` adds :data:`POSTAGE` (not
    recommendable) to the index and the item vectors; ``parts`` replace single fakes."""
    # A generous profile deadline: the fakes answer at once, but a loaded test machine may not run them at once.
    # TestClient sends Host: testserver; the Host guard's own tests set allowed_hosts themselves.
    defaults = {"profile_deadline_ms": 10_000, "allowed_hosts": "testserver"}
    settings = Settings(service=ServiceSettings(**{**defaults, **(service or {})}))
    items, banned = ({**ITEMS, **POSTAGE}, frozenset(POSTAGE)) if postage else (ITEMS, frozenset())
    fakes = dict(
        embedder=_Embedder(),
        index=FakeIndex(items=items, unrecommendable=banned),
        vectors=FakeVectors(items, banned),
        profiles=FakeProfiles({"u1": [("A1", "purchase"), ("A2", "view")], "u2": [("B1", "purchase")]}),
        ranker=FakeRanker(),
        activity=FakeActivity(),
        impressions=FakeImpressions(),
        experiments=lambda: None,  # no experiment runs unless a test says which
    )
    fakes.update(parts)
    deps = ServiceDeps(settings, **fakes)
    return create_app(settings, deps=deps), fakes


class FakeImpressions:
    """The impression log as a list: what each answer would have recorded, at once (no writer thread)."""

    def __init__(self):
        self.recorded: list = []
        self.stopped = False

    @property
    def stats(self) -> dict[str, int]:
        return {"queued": len(self.recorded)}

    def record(self, impression) -> bool:
        self.recorded.append(impression)
        return True

    def flush(self, timeout_s: float = 10.0) -> bool:
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        self.stopped = True


class _Embedder:
    name, dimension = "fake", 4

    def __init__(self):
        self.calls = 0

    def encode(self, texts, batch_size=None):
        self.calls += 1
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for n, t in enumerate(texts):
            t = t.lower()
            out[n] = [("red" in t or "heart" in t), ("blue" in t or "star" in t), "green" in t, 0.1]
            out[n] /= np.linalg.norm(out[n])
        return out
