"""The enrichment cache: one row per (item content hash, model, prompt version) in the project's SQL store.

Both outcomes are kept: an accepted enrichment (description + attributes) and a rejected one (the reason), so a
rebuild of an unchanged catalog calls no LLM at all, not even for the items whose enrichment was dropped.

The schema is made and changed only by the migrations in ``core/migrations/`` (:func:`core.store.open_store`):
a change to :class:`EnrichmentRecord` needs a revision (``scripts/db-revision``), and the drift check in
``tests/unit/core/test_store.py`` fails until there is one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Text
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

_CHUNK = 500  # keys per IN (...) query: well below SQLite's variable limit


class EnrichmentRecord(SQLModel, table=True):
    """One cached enrichment outcome."""

    __tablename__ = "enrichment_cache"

    content_hash: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=300)
    prompt_version: str = Field(primary_key=True, max_length=100)
    ok: bool
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attributes_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    similarity: float = 0.0
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class CachedEnrichment:
    """A cache hit, accepted or rejected."""

    ok: bool
    description: str
    attributes: dict[str, Any]
    reason: str
    similarity: float


class EnrichmentCache:
    """Lookups and writes for one (model, prompt version) pair; ``engine`` from :func:`core.store.open_store`."""

    def __init__(self, engine: Engine, model: str, prompt_version: str):
        self.engine, self.model, self.prompt_version = engine, model, prompt_version

    def get_many(self, hashes: Iterable[str]) -> dict[str, CachedEnrichment]:
        """The cached outcomes among ``hashes``."""
        keys = list(dict.fromkeys(hashes))
        found: dict[str, CachedEnrichment] = {}
        with Session(self.engine) as session:
            for start in range(0, len(keys), _CHUNK):
                query = select(EnrichmentRecord).where(
                    EnrichmentRecord.model == self.model,
                    EnrichmentRecord.prompt_version == self.prompt_version,
                    EnrichmentRecord.content_hash.in_(keys[start : start + _CHUNK]),  # type: ignore[attr-defined]
                )
                for row in session.exec(query):
                    found[row.content_hash] = CachedEnrichment(
                        row.ok, row.description, json.loads(row.attributes_json), row.reason, row.similarity
                    )
        return found

    def put_many(self, outcomes: dict[str, CachedEnrichment]) -> None:
        """Store outcomes (replacing older rows with the same key) in one transaction."""
        if not outcomes:
            return
        with Session(self.engine) as session:
            for content_hash, o in outcomes.items():
                session.merge(
                    EnrichmentRecord(
                        content_hash=content_hash,
                        model=self.model,
                        prompt_version=self.prompt_version,
                        ok=o.ok,
                        description=o.description,
                        attributes_json=json.dumps(o.attributes, sort_keys=True),
                        reason=o.reason,
                        similarity=o.similarity,
                    )
                )
            session.commit()
