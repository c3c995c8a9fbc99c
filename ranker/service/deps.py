"""The service's dependency container: every outside part, loaded lazily on first use.

``create_app(settings)`` builds one with the real parts; tests pass fakes by keyword
(``ServiceDeps(settings, profiles=FakeProfiles(), ranker=FakeRanker(), ...)``). A part that fails to load is
reported by :meth:`ServiceDeps.states` (``/readyz``) and makes the requests that need it degrade, not crash."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.embedding import Embedder
from core.errors import ComponentUnavailable
from core.settings import Settings
from indexer.learned import BEHAVIOUR_FIELD
from ranker.model import active_version, load_active, profile_shortfall
from ranker.service.activity import EventsActivity
from ranker.service.index_client import ServiceIndex
from ranker.service.lazy import Lazy
from ranker.service.ports import Activity, ProfileSource, Ranker, SearchIndex, VectorSource
from ranker.service.titles import TitleCache

log = logging.getLogger("recsearch.service")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LearnedSearch:
    """The recommendation pool's k-NN over the index's learned item vectors (:data:`BEHAVIOUR_FIELD`)."""

    def __init__(self, index: SearchIndex):
        self.index = index

    def knn_ids(self, vector: Sequence[float], k: int, exclude: Collection[str]) -> list[str]:
        return self.index.knn_ids(vector, k, exclude, field=BEHAVIOUR_FIELD)


class VectorLookup:
    """A vector table (``get(ids) -> (vectors, known)``, ``unrecommendable(ids) -> set``) over lookup functions."""

    def __init__(
        self,
        get: Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]],
        unrecommendable: Callable[[Sequence[str]], set[str]],
    ):
        self.get = get
        self.unrecommendable = unrecommendable


class ServiceDeps:
    """Holds the embedder, the OpenSearch index, item vectors, profiles, the active ranker and event stats.

    ``clock`` is the moment a ranking is made at (history ages are measured from it): the wall clock, or a fixed
    moment in a test that compares the service with the evaluation."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        index: SearchIndex | None = None,
        vectors: VectorSource | None = None,
        profiles: ProfileSource | None = None,
        ranker: Ranker | None = None,
        activity: Activity | None = None,
        model_check_s: float = 30.0,
        clock: Callable[[], datetime] = _utc_now,
    ):
        self.settings = settings
        self.clock = clock

        def part(name: str, given: Any, factory) -> Lazy:
            return Lazy.ready(name, given) if given is not None else Lazy(name, factory)

        self.embedder = part("embedder", embedder, self._load_embedder)
        self.index = part("opensearch", index, lambda: ServiceIndex(settings))
        self.vectors = part("item_vectors", vectors, self._load_vectors)
        self.profiles = part("profile_store", profiles, self._load_profiles)
        self.ranker = part("model", ranker, self._load_ranker)
        self.activity = part("activity", activity, self._load_activity)
        self._fixed_ranker = ranker is not None
        self._model_check_s = model_check_s
        self._model_checked = time.monotonic()
        self._titles: TitleCache | None = None
        #: The model version whose learned vectors the live index holds ("": not read yet; None: none).
        self._learned: str | None = ""
        self._engine = None
        self._check_lock = threading.Lock()
        self.query_cache_size = 1024
        self._query_cache: OrderedDict[str, list[float]] = OrderedDict()

    # --- real loaders -------------------------------------------------------------------------------------------
    def _load_embedder(self) -> Embedder:
        from core.embedding import embedder_for

        return embedder_for(self.settings)

    def _store_engine(self):
        if self._engine is None:
            from core.store import open_store

            # Never migrates under a running shop: a store behind this release fails the parts that need it with
            # the command to run (`recadmin db upgrade`); only an empty store gets its tables.
            self._engine = open_store(self.settings.store, migrate=False)
        return self._engine

    def _load_profiles(self) -> ProfileSource:
        from ranker.feedback import HeldCatalogIds, ProfileStore

        # Live events for items outside the catalog (the loaded item vectors) are stored, flagged and left out of
        # profiles, as the import does with the live index's ids.
        return ProfileStore(self._store_engine(), self.settings, catalog=HeldCatalogIds(self.vectors.get))

    def _load_vectors(self) -> VectorSource:
        from ranker.model import ItemVectors

        return ItemVectors.from_index(self.settings)

    def _load_activity(self) -> Activity:
        return EventsActivity(self._store_engine())

    def _load_ranker(self) -> Ranker:
        from ranker.model import Scorer

        checkpoint = load_active(self._store_engine())
        shortfall = profile_shortfall(checkpoint.config.history_needed, self.settings.events.history_length)
        if shortfall:
            log.warning("ranker %s: %s", checkpoint.version, shortfall)
        threads = self.settings.ranker.scoring_threads or None  # 0: leave the BLAS thread count alone
        return Scorer(checkpoint, self.vectors.get(), explanations=self.settings.service.explanations, threads=threads,
                      sequence_weight=self.settings.sequence.order_weight,
                      session_minutes=self.settings.sequence.session_minutes)  # fmt: skip

    # --- what the routes use ------------------------------------------------------------------------------------
    def get_ranker(self) -> Ranker:
        """The active ranker, reloaded when another version was activated (checked every ``model_check_s``)."""
        if not self._fixed_ranker and time.monotonic() - self._model_checked > self._model_check_s:
            with self._check_lock:
                if time.monotonic() - self._model_checked > self._model_check_s:
                    self._model_checked = time.monotonic()
                    # Off the request path: this request keeps the model in use; the next gets the new one.
                    threading.Thread(target=self._refresh_model, name="recsearch-model-check", daemon=True).start()
        return self.ranker.get()

    def ready_for_inline_ranking(self) -> bool:
        """Whether ranking needs no loading (so it may run on the event loop without blocking it for long)."""
        return self.ranker.state == "ready" and self.profiles.state == "ready"

    def _refresh_model(self) -> None:
        try:
            current = self.ranker.get().version if self.ranker.state == "ready" else None
            found = active_version(self._store_engine())
            if (found.version if found else None) != current:
                self.ranker.reset()
            self._learned = self._read_learned()
            if self.vectors.state == "ready" and self.index.get().ping() != self.vectors.get().source:
                # The alias moved: new items, and the model needs the new table (loaded here, off the request path).
                self.vectors.set(self._load_vectors())
                self.ranker.reset()
        except Exception as e:  # a failed check keeps the model in use
            log.warning("model refresh check failed: %s", e)

    def _read_learned(self) -> str | None:
        try:
            return self.index.get().learned_model()
        except Exception as e:  # the text k-NN still serves the pool
            log.warning("cannot read which learned vectors the index holds: %s", e)
            return None

    def learned_search(self, model: Ranker) -> LearnedSearch | None:
        """k-NN over the learned item vectors when the live index holds those of ``model`` (read once, then again
        with every model check), else None (the pool keeps to the text k-NN)."""
        if self._learned == "":
            self._learned = self._read_learned()
        return LearnedSearch(self.index.get()) if self._learned == model.version else None

    def embed_query(self, text: str) -> list[float]:
        """The query's embedding; repeated queries (common in a shop) come from a small in-memory cache."""
        cached = self._query_cache.get(text)
        if cached is not None:
            self._query_cache.move_to_end(text)
            return cached
        vector = [float(x) for x in self.embedder.get().encode([text])[0]]
        self._query_cache[text] = vector
        if len(self._query_cache) > self.query_cache_size:
            self._query_cache.popitem(last=False)
        return vector

    def vector_dimension(self) -> int | None:
        """The item vectors' dimension when already known (loaded vectors or embedder), else None."""
        if self.vectors.state == "ready":
            return int(self.vectors.get().dim)
        if self.embedder.state == "ready":
            return int(self.embedder.get().dimension)
        return None

    def vectors_for(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` and the known-mask: from the in-memory item vectors, else from OpenSearch."""
        try:
            return self.vectors.get().get(list(ids))
        except ComponentUnavailable as e:
            log.warning("%s; reading vectors from OpenSearch", e)
        found = self.index.get().vectors(list(ids))
        dim = len(next(iter(found.values()))) if found else 1
        out = np.zeros((len(ids), dim), dtype=np.float32)
        known = np.zeros(len(ids), dtype=bool)
        for n, i in enumerate(ids):
            if i in found:
                out[n], known[n] = found[i], True
        return out, known

    def unrecommendable(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` marked not recommendable: from the in-memory item vectors, else from OpenSearch."""
        try:
            return self.vectors.get().unrecommendable(list(ids))
        except ComponentUnavailable as e:
            log.warning("%s; reading the recommendable flags from OpenSearch", e)
        return self.index.get().unrecommendable(list(ids))

    def vector_table(self) -> VectorLookup:
        """:meth:`vectors_for` and :meth:`unrecommendable` as the candidate pool's vector table."""
        return VectorLookup(self.vectors_for, self.unrecommendable)

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        """Titles for explanation items: from the in-memory vectors when loaded, else cached from OpenSearch."""
        if self.vectors.state == "ready":
            vectors = self.vectors.get()
            return {i: vectors.title(i) for i in ids}
        try:
            if self._titles is None:
                self._titles = TitleCache(self.index.get())
            return self._titles.titles(ids)
        except Exception as e:  # titles are decoration: never fail a ranking for them
            log.warning("no titles for explanations: %s", e)
            return {i: "" for i in ids}

    def states(self) -> dict[str, str]:
        """Load state of every part, for /readyz."""
        parts = (self.embedder, self.index, self.vectors, self.profiles, self.ranker, self.activity)
        return {p.name: p.state for p in parts}

    def warm(self) -> None:
        """Load every part now (``recadmin serve`` does it in the background so the first request is fast)."""
        for part in (self.index, self.embedder, self.vectors, self.profiles):
            try:
                part.get()
            except ComponentUnavailable as e:
                log.warning("%s", e)
        try:
            self.get_ranker()
        except ComponentUnavailable as e:
            log.warning("%s", e)
