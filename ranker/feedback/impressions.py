"""Impressions: what one answer of the service showed, as a query of OpenSearch's User Behavior Insights (UBI).

Every answer of ``/v1/search``, ``/v1/recommend`` and ``/v1/rerank`` carries a ``query_id`` (the caller's, or a new
UUID4) and is recorded as one UBI query: who asked (``client_id``: the user id), what (``user_query``; none for a
recommendation), where (``application``: the endpoint), and the ids shown in order (``query_response_hit_ids``),
each with its position and what placed it there (``placed_by``: the model version, ``retrieval`` for hits left in
OpenSearch's order, ``popularity``). Events that carry the ``query_id`` are then attributed to the position they
followed (:mod:`ranker.feedback.attribution`).

Field names follow the UBI specification's ``ubi_queries`` (query_id, client_id, user_query, timestamp,
application, query_response_id, query_response_hit_ids, query_attributes); what UBI has no field for (positions,
placed_by, model version, whether the answer was personalized, the online experiment) is in ``query_attributes``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ranker.feedback.events import MAX_QUERY_ID_LENGTH

#: What the caller may pass as a query_id: a UUID, or any id of letters, digits and ``._:-`` (at most 100).
QUERY_ID_PATTERN = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_QUERY_ID_LENGTH - 1}}}$")
#: ``placed_by`` of a hit left where retrieval (OpenSearch) put it.
RETRIEVAL = "retrieval"
#: ``placed_by`` of a hit of the popularity fallback (a user without history).
POPULARITY = "popularity"


def new_query_id() -> str:
    """A fresh query_id (UUID4, as the UBI plugin makes them)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Shown:
    """One item an answer showed: ``position`` is its place in the whole ordering, 1 = first (page 2 of ten
    starts at 11), and ``placed_by`` what put it there."""

    object_id: str
    position: int
    placed_by: str


@dataclass(frozen=True)
class Impression:
    """One answer of the service, ready to be written as a UBI query."""

    query_id: str
    application: str
    client_id: str | None
    user_query: str | None
    hits: tuple[Shown, ...]
    model_version: str | None = None
    personalized: bool = False
    reason: str | None = None
    #: The online experiment the answer was served under (its items' ``placed_by`` name the version of the team
    #: that placed each, or the arm's version in A/B mode); None outside one.
    experiment: str | None = None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))
    #: The answer's own id: pages of one search may share a query_id, never a query_response_id.
    query_response_id: str = field(default_factory=new_query_id)

    def ubi_query(self) -> dict:
        """The UBI ``ubi_queries`` document of this answer."""
        return {
            "query_id": self.query_id,
            "query_response_id": self.query_response_id,
            "client_id": self.client_id,
            "user_query": self.user_query,
            "application": self.application,
            "timestamp": self.timestamp.isoformat(timespec="milliseconds") + "Z",
            "query_response_hit_ids": [h.object_id for h in self.hits],
            "query_attributes": {
                "positions": [h.position for h in self.hits],
                "placed_by": [h.placed_by for h in self.hits],
                "model_version": self.model_version,
                "personalized": self.personalized,
                "reason": self.reason,
                "experiment": self.experiment,
            },
        }


def shown(ids: Sequence[str], placed_by: Sequence[str], offset: int = 0) -> tuple[Shown, ...]:
    """The hits of an answer: ``ids`` in the order shown from position ``offset + 1`` on, with what placed each."""
    return tuple(Shown(i, offset + n + 1, p) for n, (i, p) in enumerate(zip(ids, placed_by, strict=True)))
