"""What the service needs from the outside parts, as small Protocols: the real implementations (the profile store,
OpenSearch, the in-memory item vectors, the active ranker, the event statistics) satisfy them, and so do the unit
tests' fakes (``tests/fakes/service.py``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from indexer.search import Hit
from ranker.feedback import Impression, IngestResult, Interaction
from ranker.model import Candidate, HistoryEntry, RankerConfig, Scored


class ProfileSource(Protocol):
    """The profile store (:class:`ranker.feedback.profiles.ProfileStore`)."""

    def history(self, user_id: str, limit: int | None = None) -> list[Interaction]: ...

    def known(self, user_id: str) -> bool: ...

    def ping(self) -> None:
        """Raises when the store cannot be reached."""
        ...

    def purchased(self, user_id: str) -> set[str]: ...

    def ingest(self, events: list[Any]) -> IngestResult: ...

    def delete_user(self, user_id: str) -> dict[str, int]: ...

    def export_user(self, user_id: str) -> dict: ...


class Ranker(Protocol):
    """The active ranker (:class:`ranker.model.scoring.Scorer`) and the version it was loaded from."""

    version: str
    config: RankerConfig

    def score(
        self, history: Sequence[HistoryEntry], candidates: Sequence[Candidate], now: datetime | None = None
    ) -> list[Scored]: ...

    def companions(self, history: Sequence[HistoryEntry], n: int) -> list[str]: ...

    def trending(self, n: int) -> list[str]: ...


class VectorSource(Protocol):
    """Item vectors by id, with titles (:class:`ranker.model.item_vectors.ItemVectors`)."""

    dim: int
    #: The index version the vectors were read from.
    source: str

    def get(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """((len(ids), dim) float32, bool mask of the ids that were known)."""
        ...

    def unrecommendable(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that the catalog marks not recommendable."""
        ...

    def title(self, item_id: str) -> str: ...


class SearchIndex(Protocol):
    """The items index in OpenSearch, as the service queries it (:class:`ranker.service.index_client.ServiceIndex`)."""

    def knn(
        self,
        vector: Sequence[float],
        k: int,
        filters: dict[str, Any] | None = None,
        *,
        recommendable_only: bool = False,
    ) -> list[Hit]: ...

    def knn_ids(self, vector: Sequence[float], k: int, exclude: Collection[str], field: str = "vector") -> list[str]:
        """The recommendation pool's k-NN over ``field``: never ``exclude`` nor an item marked not recommendable."""
        ...

    def hybrid(self, query: str, vector: Sequence[float], k: int, filters: dict[str, Any] | None = None) -> list[Hit]:
        """BM25 and k-NN hits fused."""
        ...

    def bm25(self, query: str, k: int, filters: dict[str, Any] | None = None) -> list[Hit]:
        """BM25 hits alone (an index in the shop's own vector space with no model for a text query)."""
        ...

    def items(self, ids: Sequence[str]) -> dict[str, Hit]:
        """Title, category and price of the ids that exist."""
        ...

    def vectors(self, ids: Sequence[str]) -> dict[str, list[float]]: ...

    def unrecommendable(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that the index marks not recommendable."""
        ...

    def ping(self) -> str:
        """The live index version; raises an OpenSearch error when the cluster or the index is missing."""
        ...

    def learned_model(self) -> str | None:
        """The model version whose learned item vectors the live version holds (None: none)."""
        ...

    def embedding_model(self) -> str | None:
        """The embedding model the live version was built with (None: not recorded)."""
        ...


class Activity(Protocol):
    """Aggregates over the events: what is popular, who is active (for cold start and the storefront)."""

    def popular(self, k: int, exclude: set[str] | None = None) -> list[tuple[str, float]]: ...

    def active_users(self, k: int) -> list[str]: ...


class ImpressionLog(Protocol):
    """Where answers are recorded (:class:`ranker.feedback.ImpressionRecorder`): ``record`` never blocks."""

    @property
    def stats(self) -> dict[str, int]: ...

    def record(self, impression: Impression) -> bool: ...

    def flush(self, timeout_s: float = 10.0) -> bool: ...

    def stop(self, timeout_s: float = 30.0) -> None: ...
