"""The model version the registry marks active, loaded into a :class:`ranker.model.scoring.Scorer`."""

from __future__ import annotations

from typing import Any

from core.errors import ModelError
from core.settings import Settings


def active_version(engine: Any) -> str | None:
    """The version id the registry marks active (None when none is)."""
    from ranker.model import registry

    found = registry.active_version(engine)
    return None if found is None else found.version


def load_active_ranker(settings: Settings, engine: Any, item_vectors: Any):
    """A Scorer for the active model over ``item_vectors``; :class:`ModelError` when no model is active."""
    from ranker.model import registry
    from ranker.model.checkpoint import load_checkpoint
    from ranker.model.scoring import Scorer

    found = registry.active_version(engine)
    if found is None:
        raise ModelError("no active ranker version; train one with `recadmin train` or `recadmin models activate V`")
    return Scorer(
        load_checkpoint(found.path),
        item_vectors,
        history_length=settings.service.history_limit,
        explanations=settings.service.explanations,
    )
