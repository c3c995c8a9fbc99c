"""What the service needs from the other parts, as small Protocols, so unit tests can pass fakes.

The real implementations live elsewhere (``ranker.feedback.profiles``, ``ranker.model.scoring``, ``ranker.model.item_vectors``,
OpenSearch through :mod:`ranker.service.backends`); the service only relies on the shapes below, which follow
``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from indexer.search import Hit


class InteractionLike(Protocol):
    """One history entry (``ranker.feedback.profiles.Interaction``)."""

    item_id: str
    type: str
    weight: float


class ProfileSource(Protocol):
    """The profile store (``ranker.feedback.profiles.ProfileStore``)."""

    def history(self, user_id: str, limit: int | None = None) -> list[Any]: ...

    def ingest(self, events: list[Any]) -> Any: ...

    def delete_user(self, user_id: str) -> Any: ...

    def export_user(self, user_id: str) -> dict: ...


@dataclass(frozen=True)
class Candidate:
    """A hit to score; same fields as ``ranker.model.scoring.Candidate`` (used when that module is absent)."""

    id: str
    retrieval_score: float


@dataclass
class Explanation:
    """A history item that explains a result (same fields as ``ranker.model.scoring.Explanation``)."""

    item_id: str
    weight: float
    type: str


@dataclass
class Scored:
    """A scored candidate (same fields as ``ranker.model.scoring.Scored``)."""

    id: str
    score: float
    retrieval_score: float
    explanations: list[Explanation] = field(default_factory=list)


class RankerLike(Protocol):
    """The active attention ranker: ``ranker.model.scoring.Scorer`` plus the version it was loaded from."""

    version: str

    def score(self, history: list[Any], candidates: list[Any]) -> list[Any]: ...


class VectorSource(Protocol):
    """Item vectors by id (``ranker.model.item_vectors.ItemVectors``)."""

    def get(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """((len(ids), dim) float32, bool mask of the ids that were known)."""
        ...


class Catalog(Protocol):
    """The items index in OpenSearch, as the service queries it."""

    def knn(self, vector: Sequence[float], k: int, filters: dict[str, Any] | None = None) -> list[Hit]: ...

    def hybrid(
        self, query: str, vector: Sequence[float], k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit] | None:
        """Hybrid (BM25 + k-NN) hits, or None when the index offers no hybrid search."""
        ...

    def items(self, ids: Sequence[str]) -> dict[str, Hit]:
        """Title, category and price of the ids that exist."""
        ...

    def vectors(self, ids: Sequence[str]) -> dict[str, list[float]]: ...

    def ping(self) -> str:
        """The live index version; raises an OpenSearch error when the cluster or the index is missing."""
        ...


class Activity(Protocol):
    """Aggregates over the events: what is popular, who is active (for cold start and the storefront)."""

    def popular(self, k: int, exclude: set[str] | None = None) -> list[tuple[str, float]]: ...

    def active_users(self, k: int) -> list[str]: ...
