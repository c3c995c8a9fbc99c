"""The service's dependency container: every outside part, loaded lazily on first use.

``create_app(settings)`` builds one with the real parts; tests pass fakes by keyword
(``ServiceDeps(settings, profiles=FakeProfiles(), ranker=FakeRanker(), ...)``). A part that fails to load is
reported by :meth:`ServiceDeps.states` (``/readyz``) and makes the requests that need it degrade, not crash."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any, TypeVar

import numpy as np

from core.embedding import Embedder
from core.errors import ComponentUnavailable
from core.heap import trim
from core.settings import Settings
from indexer.learned import BEHAVIOUR_FIELD
from ranker.experiments import Experiment
from ranker.feedback import Impression, recorder_for
from ranker.model import active_version, load_active, profile_shortfall
from ranker.service.activity import EventsActivity, Window
from ranker.service.admin import AdminSources, LiveAdmin
from ranker.service.deadline import DeadlineReads
from ranker.service.index_client import ServiceIndex
from ranker.service.lazy import Lazy
from ranker.service.ports import Activity, ImpressionLog, ProfileSource, Ranker, SearchIndex, VectorSource
from ranker.service.query_cache import QueryCache
from ranker.service.titles import TitleCache

log = logging.getLogger("recsearch.service")
T = TypeVar("T")


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
    """Holds the embedder, the OpenSearch index, item vectors, profiles, the active ranker, event stats and what
    the admin page reads.

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
        impressions: ImpressionLog | None = None,
        experiments: Callable[[], Experiment | None] | None = None,
        scorers: dict[str, Ranker] | None = None,
        admin: AdminSources | None = None,
        model_check_s: float | None = None,
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
        self._fixed_embedder = embedder is not None
        #: The embedding model the live index was built with (its ``_meta.embedding_model``), as /readyz shows it.
        self.embedding_model: str | None = getattr(embedder, "name", None)
        #: Seconds between two registry checks (RECSEARCH_SERVICE_MODEL_CHECK_S unless given).
        self._model_check_s = settings.service.model_check_s if model_check_s is None else model_check_s
        self._model_checked = time.monotonic()
        self._closing = threading.Event()
        self._failed_version: str | None = None  # a checkpoint that would not load is not read again every check
        self._titles: TitleCache | None = None
        #: The model version whose learned vectors the live index holds ("": not read yet; None: none).
        self._learned: str | None = ""
        self._engine = None
        #: Where answers are recorded as UBI queries (RECSEARCH_UBI_SINK); written off the request path.
        self.impressions: ImpressionLog = impressions or recorder_for(settings, self._store_engine)
        #: The running online experiment (ranker.experiments), read at most every RECSEARCH_EXPERIMENTS_CHECK_S, and
        #: the scorers of the versions experiments compare (the active one is shared when it is one of them).
        self._read_experiment = experiments or self._running_experiment
        self._experiment: Experiment | None = None
        self._experiment_read: float | None = None
        self._experiment_lock = threading.Lock()
        self._scorers: dict[str, Ranker] = dict(scorers or {})
        self._fixed_scorers = scorers is not None
        #: What the admin page reads (index versions, ranker versions, reports, experiments).
        self.admin: AdminSources = admin or LiveAdmin(settings, self._store_engine)
        self._scorer_lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._warm_lock = threading.Lock()
        self.warm_state = "idle"  # idle -> running -> done
        self.query_cache = QueryCache(1024)
        store = settings.store
        self._reads = DeadlineReads(store.pool_size, settings.service.profile_deadline_ms / 1000)

    # --- real loaders -------------------------------------------------------------------------------------------
    def _load_embedder(self) -> Embedder:
        """The embedding model the live index was built with (``_meta.embedding_model``, as `recadmin search`
        does), else ``RECSEARCH_MODELS_EMBEDDING`` (an index built before the name was recorded)."""
        model = self.index.get().embedding_model()
        embedder = self._embedder_of(model)
        self.embedding_model = _shown(model or self.settings.models.embedding)
        return embedder

    def _embedder_of(self, model: str | None) -> Embedder:
        """The query embedder of an index built with ``model``; for the shop's own vectors without a model of their
        space, a :class:`~indexer.vectors.NoQueryModel` (text queries are then answered from BM25)."""
        from core.embedding import embedder_for
        from indexer.vectors import NoQueryModel, is_catalog_space

        if is_catalog_space(model):
            return NoQueryModel(str(model), self.index.get().dimension())  # type: ignore[return-value]
        return embedder_for(self.settings, model)

    def query_model(self) -> bool:
        """Whether a text query can be embedded into the live index's space (False: the shop's own vectors with no
        model of their space; :meth:`embed_query` would fail)."""
        from indexer.vectors import NoQueryModel

        return not isinstance(self.embedder.get(), NoQueryModel)

    def _store_engine(self):
        if self._engine is None:
            from core.store import open_store

            # Never migrates under a running shop: a store behind this release fails the parts that need it with
            # the command to run (`recadmin db upgrade`); only an empty store gets its tables.
            self._engine = open_store(self.settings.store, migrate=False, service=True)
        return self._engine

    def _load_profiles(self) -> ProfileSource:
        from ranker.feedback import HeldCatalogIds, ProfileStore

        # Live events for items outside the catalog (the loaded item vectors) are stored, flagged and left out of
        # profiles, as the import does with the live index's ids.
        return ProfileStore(self._store_engine(), self.settings, catalog=HeldCatalogIds(self.vectors.get))

    def _load_vectors(self) -> VectorSource:
        from ranker.model import ItemVectors

        vectors = ItemVectors.from_index(self.settings, dtype=self.settings.service.item_vectors_dtype)
        trim()  # the paging's per-document temporaries
        return vectors

    def _load_activity(self) -> Activity:
        service = self.settings.service
        window = Window(service.popularity_days, service.popularity_max_events)
        return EventsActivity(self._store_engine(), window=window)

    def _load_ranker(self, vectors: VectorSource | None = None) -> Ranker:
        return self._scorer(load_active(self._store_engine()), vectors)

    def _scorer(self, checkpoint, vectors: VectorSource | None = None) -> Ranker:
        from ranker.model import Scorer

        shortfall = profile_shortfall(checkpoint.config.history_needed, self.settings.events.history_length)
        if shortfall:
            log.warning("ranker %s: %s", checkpoint.version, shortfall)
        threads = self.settings.ranker.scoring_threads or None  # 0: leave the BLAS thread count alone
        scorer = Scorer(checkpoint, vectors or self.vectors.get(), explanations=self.settings.service.explanations,
                        threads=threads, sequence_weight=self.settings.sequence.order_weight,
                        session_minutes=self.settings.sequence.session_minutes,
                        user_states=self.settings.ranker.user_states)  # fmt: skip
        del checkpoint  # its per-item dicts and id embedding: the scorer keeps arrays of its own
        trim()
        return scorer

    # --- what the routes use ------------------------------------------------------------------------------------
    def get_ranker(self) -> Ranker:
        """The active ranker, reloaded when another version was activated (checked every ``model_check_s``)."""
        if self._check_due():
            # Off the request path: this request keeps the model in use; the next gets the new one.
            threading.Thread(target=self._refresh_model, name="recsearch-model-check", daemon=True).start()
        return self.ranker.get()

    def _check_due(self) -> bool:
        """Whether a registry check is due; marks it as started (one check per interval, whoever asks)."""
        if self._fixed_ranker or time.monotonic() - self._model_checked <= self._model_check_s:
            return False
        with self._check_lock:
            if time.monotonic() - self._model_checked <= self._model_check_s:
                return False
            self._model_checked = time.monotonic()
            return True

    def watch_model(self) -> threading.Thread:
        """Check for a new active version every ``model_check_s`` in a daemon thread until :meth:`close`, whether
        or not requests come: with several workers, each one (idle or not) serves an activated version within
        one interval and the time to load it. Requests still start a due check themselves (:meth:`get_ranker`)."""

        def run() -> None:
            while True:
                left = self._model_check_s - (time.monotonic() - self._model_checked)
                if self._closing.wait(max(left, 0.0) + 0.01):
                    return
                if self._check_due():
                    self._refresh_model()

        thread = threading.Thread(target=run, name="recsearch-model-watch", daemon=True)
        thread.start()
        return thread

    def running_experiment(self) -> Experiment | None:
        """The running experiment: read from the store on the first call, then again in the background every
        ``RECSEARCH_EXPERIMENTS_CHECK_S`` (a request only compares two times)."""
        read = self._experiment_read
        if read is None:
            with self._experiment_lock:
                if self._experiment_read is None:
                    self._refresh_experiment()
        elif time.monotonic() - read > self.settings.experiments.check_s:
            with self._experiment_lock:
                if self._experiment_read is not None and time.monotonic() - self._experiment_read > (
                    self.settings.experiments.check_s
                ):
                    self._experiment_read = time.monotonic()
                    threading.Thread(target=self._refresh_experiment, name="recsearch-experiment-check",
                                     daemon=True).start()  # fmt: skip
        return self._experiment

    def _running_experiment(self) -> Experiment | None:
        from ranker.experiments import running

        return running(self._store_engine())

    def _refresh_experiment(self) -> None:
        """Read which experiment runs; a failed read keeps the one in use (and is tried again at the next check)."""
        try:
            found = self._read_experiment()
        except Exception as e:  # the store is an outside system: no experiment change is better than failing answers
            log.warning("cannot read the running experiment, keeping %s: %s",
                        self._experiment.name if self._experiment else "none", e)  # fmt: skip
            found = self._experiment
        if (found and found.name) != (self._experiment and self._experiment.name):
            log.info("experiment %s is served (was %s)", found.name if found else "none",
                     self._experiment.name if self._experiment else "none")  # fmt: skip
        self._experiment = found
        self._experiment_read = time.monotonic()
        if not self._fixed_scorers:  # a stopped experiment's scorers are not kept
            keep = {found.control, found.treatment} if found else set()
            with self._scorer_lock:
                self._scorers = {v: r for v, r in self._scorers.items() if v in keep}

    def ranker_of(self, version: str) -> Ranker:
        """The scorer of registered ``version``: the active one when it is that version, else loaded once (an
        experiment's other side) and kept; :class:`ComponentUnavailable` when it cannot be loaded."""
        if self.ranker.state == "ready" and self.ranker.get().version == version:
            return self.ranker.get()
        found = self._scorers.get(version)
        if found is not None:
            return found
        with self._scorer_lock:
            if version not in self._scorers:
                from ranker.model import load_checkpoint, verify_checkpoint

                try:
                    checkpoint = load_checkpoint(verify_checkpoint(self._store_engine(), version).path)
                    self._scorers[version] = self._scorer(checkpoint)
                except Exception as e:
                    raise ComponentUnavailable(f"ranker {version}", str(e)) from None
                log.info("ranker %s loaded for an experiment", version)
            return self._scorers[version]

    def profile_read(self, read: Callable[[ProfileSource], T]) -> T:
        """``read(profile store)`` within the request's deadline (``RECSEARCH_SERVICE_PROFILE_DEADLINE_MS``);
        :class:`~ranker.service.deadline.ProfileDeadline` past it, the store's own error when it fails."""
        return self._reads.run(lambda: read(self.profiles.get()))

    def _refresh_model(self) -> None:
        """The background check: a new active version, or the alias moved (new item vectors and embedding model).
        Everything new is loaded first and swapped in only once loaded: a part that fails to load (a truncated
        checkpoint, a model folder missing here) leaves the one in use serving."""
        with self._refresh_lock:
            vectors = None
            try:
                live = self.index.get().ping()
                if self.vectors.state == "ready" and live != self.vectors.get().source:
                    vectors = self._load_vectors()  # the alias moved: new items (loaded here, off the request path)
                self._refresh_embedder()
                self._learned = self._read_learned()
            except Exception as e:  # a failed check keeps the parts in use
                log.warning("index refresh check failed: %s", e)
            try:
                self._refresh_ranker(vectors)
            except Exception as e:
                log.warning("model refresh check failed: %s", e)
            if vectors is not None:
                self.vectors.set(vectors)

    def _refresh_ranker(self, vectors: VectorSource | None) -> None:
        if self._fixed_ranker:
            return
        found = active_version(self._store_engine())
        wanted = found.version if found else None
        current = self.ranker.get().version if self.ranker.state == "ready" else None
        if wanted is None:
            if current is not None:
                self.ranker.reset()  # deactivated: the next request says model_unavailable
            return
        if wanted == current and vectors is None:
            return
        if wanted == self._failed_version and wanted != current and vectors is None:
            return
        try:
            model = self._load_ranker(vectors)
        except Exception as e:
            self._failed_version = wanted
            log.warning("cannot load ranker %s, keeping %s: %s", wanted, current or "none", e)
            return
        self._failed_version = None
        self.ranker.set(model)
        if current != model.version:
            log.info("ranker %s loaded (was %s)", model.version, current or "none")

    def _refresh_embedder(self) -> None:
        """Load the live index's embedding model when it is not the one in use, and swap it in."""
        if self._fixed_embedder or self.embedder.state != "ready":
            return
        model = self.index.get().embedding_model()
        if _shown(model or self.settings.models.embedding) == self.embedding_model:
            return
        try:
            embedder = self._embedder_of(model)
        except Exception as e:
            log.warning(
                "cannot load the live index's embedding model %s, keeping %s: %s", model, self.embedding_model, e
            )
            return
        self.embedder.set(embedder)
        self.embedding_model = _shown(model or self.settings.models.embedding)
        self.query_cache.clear()

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
        """The query's embedding by the live index's model; repeated queries (common in a shop) come from a small
        in-memory cache (thread-safe, per model)."""
        embedder = self.embedder.get()

        def embed(t: str) -> list[float]:
            return [float(x) for x in embedder.encode([t])[0]]

        return self.query_cache.get(str(getattr(embedder, "name", "")), text, embed)

    def vector_dimension(self) -> int | None:
        """The item vectors' dimension when already known (loaded vectors or embedder), else None."""
        if self.vectors.state == "ready":
            return int(self.vectors.get().dim)
        if self.embedder.state == "ready" and self.embedder.get().dimension is not None:
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
        """Load every part now (``recadmin serve`` does it in the background so the first request is fast;
        /readyz answers 503 until it is done)."""
        with self._warm_lock:
            self.warm_state = "running"
            for part in (self.index, self.embedder, self.vectors, self.profiles, self.ranker, self.activity):
                try:
                    part.get()
                except ComponentUnavailable as e:
                    log.warning("%s", e)
            self.warm_state = "done"

    def record(self, impression: Impression) -> None:
        """Queue what an answer showed for writing (never blocks; a full queue drops it and counts)."""
        self.impressions.record(impression)

    def close(self) -> None:
        """The service's shutdown: stop the model watch, write the impressions still queued."""
        self._closing.set()
        self.impressions.stop()

    def start_warm(self) -> None:
        """:meth:`warm` in a background thread, unless it already ran or runs."""
        if self.warm_state == "idle":
            self.warm_state = "running"
            threading.Thread(target=self.warm, name="recsearch-warm", daemon=True).start()


def _shown(model: str) -> str:
    """A model name as /readyz shows it: a folder's own name, not where it lies on this machine."""
    return PurePath(model).name if ("/" in model or "\\" in model) else model
