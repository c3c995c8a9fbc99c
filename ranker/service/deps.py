"""The service's dependency container: every outside part, loaded lazily on first use.

``create_app(settings)`` builds one with the real parts; tests pass fakes by keyword
(``ServiceDeps(settings, profiles=FakeProfiles(), ranker=FakeRanker(), ...)``). A part that fails to load is
reported by :meth:`ServiceDeps.states` (``/readyz``) and makes the requests that need it degrade, not crash."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.embedding import Embedder
from core.settings import Settings
from ranker.service.backends import EventsActivity, OpenSearchCatalog, TitleCache, load_item_vectors
from core.errors import ComponentUnavailable
from ranker.service.lazy import Lazy
from ranker.service.ports import Activity, Catalog, ProfileSource, RankerLike, VectorSource

log = logging.getLogger("recsearch.service")


class ServiceDeps:
    """Holds the embedder, the OpenSearch catalog, item vectors, profiles, the active ranker and event stats."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        catalog: Catalog | None = None,
        vectors: VectorSource | None = None,
        profiles: ProfileSource | None = None,
        ranker: RankerLike | None = None,
        activity: Activity | None = None,
        model_check_s: float = 30.0,
    ):
        self.settings = settings

        def part(name: str, given: Any, factory) -> Lazy:
            return Lazy.ready(name, given) if given is not None else Lazy(name, factory)

        self.embedder = part("embedder", embedder, self._load_embedder)
        self.catalog = part("opensearch", catalog, lambda: OpenSearchCatalog(settings))
        self.vectors = part("item_vectors", vectors, self._load_vectors)
        self.profiles = part("profile_store", profiles, self._load_profiles)
        self.ranker = part("model", ranker, self._load_ranker)
        self.activity = part("activity", activity, self._load_activity)
        self._fixed_ranker = ranker is not None
        self._model_check_s = model_check_s
        self._model_checked = time.monotonic()
        self._titles: TitleCache | None = None
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
        from ranker.feedback.profiles import ProfileStore

        return ProfileStore(self._store_engine(), self.settings)

    def _load_vectors(self) -> VectorSource:
        return load_item_vectors(self.settings)

    def _load_activity(self) -> Activity:
        return EventsActivity(self._store_engine())

    def _load_ranker(self) -> RankerLike:
        from ranker.service.active_model import load_active_ranker

        return load_active_ranker(self.settings, self._store_engine(), self.vectors.get())

    # --- what the routes use ------------------------------------------------------------------------------------
    def get_ranker(self) -> RankerLike:
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
            from ranker.service.active_model import active_version

            current = self.ranker.get().version if self.ranker.state == "ready" else None
            if active_version(self._store_engine()) != current:
                self.ranker.reset()
            vectors = self.vectors.get() if self.vectors.state == "ready" else None
            source = getattr(vectors, "source", None)
            if source and self.catalog.get().ping() != source:
                # The alias moved: new items, and the model needs the new table.
                self.vectors.set(load_item_vectors(self.settings))
                self.ranker.reset()
        except Exception as e:  # a failed check keeps the model in use
            log.warning("model refresh check failed: %s", e)

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
        for part in (self.vectors, self.embedder):
            if part.state == "ready":
                value = part.get()
                dim = getattr(value, "dim", None) or getattr(value, "dimension", None)
                if dim:
                    return int(dim)
        return None

    def vectors_for(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` and the known-mask: from the in-memory item vectors, else from OpenSearch."""
        try:
            return self.vectors.get().get(list(ids))
        except ComponentUnavailable as e:
            log.warning("%s; reading vectors from OpenSearch", e)
        found = self.catalog.get().vectors(list(ids))
        dim = len(next(iter(found.values()))) if found else 1
        out = np.zeros((len(ids), dim), dtype=np.float32)
        known = np.zeros(len(ids), dtype=bool)
        for n, i in enumerate(ids):
            if i in found:
                out[n], known[n] = found[i], True
        return out, known

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        """Titles for explanation items: from the in-memory vectors when loaded, else cached from OpenSearch."""
        if self.vectors.state == "ready":
            vectors = self.vectors.get()
            title = getattr(vectors, "title", None)
            if title is not None:
                return {i: title(i) for i in ids}
        try:
            if self._titles is None:
                self._titles = TitleCache(self.catalog.get())
            return self._titles.titles(ids)
        except Exception as e:  # titles are decoration: never fail a ranking for them
            log.warning("no titles for explanations: %s", e)
            return {i: "" for i in ids}

    def states(self) -> dict[str, str]:
        """Load state of every part, for /readyz."""
        parts = (self.embedder, self.catalog, self.vectors, self.profiles, self.ranker, self.activity)
        return {p.name: p.state for p in parts}

    def warm(self) -> None:
        """Load every part now (``recadmin serve`` does it in the background so the first request is fast)."""
        for part in (self.catalog, self.embedder, self.vectors, self.profiles):
            try:
                part.get()
            except ComponentUnavailable as e:
                log.warning("%s", e)
        try:
            self.get_ranker()
        except ComponentUnavailable as e:
            log.warning("%s", e)
