"""Putting the active model's learned item vectors into the live index, where OpenSearch k-NN serves them.

Called when a version becomes active (``recadmin train --activate``, ``recadmin models activate``) and after a
catalog build or update (a new version holds none, an updated item lost its own): every item of the live version
gets the vector the version's sequence model gives it (its learned id vector plus its text's projection; a new item
its text's alone). A version without a sequence model publishes nothing; the service then keeps to the text k-NN.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.progress import ProgressFn
from core.settings import Settings
from indexer.api import items_index
from indexer.learned import learned_model, write_learned_vectors
from ranker.model.behaviour import BehaviourSpace
from ranker.model.checkpoint import Checkpoint
from ranker.model.item_vectors import ItemVectors


@dataclass(frozen=True)
class Published:
    """What a publication wrote: the model version, the index version, how many items."""

    model: str
    index: str
    items: int


def publish_learned_vectors(
    settings: Settings,
    checkpoint: Checkpoint,
    progress: ProgressFn | None = None,
    items: ItemVectors | None = None,
) -> Published | None:
    """Write ``checkpoint``'s learned item vectors into the live index version (None: the version has no sequence
    model, nothing is written). ``items``: the live version's item vectors when already read."""
    if checkpoint.sequence is None:
        return None
    if items is None or items.source != items_index(settings).live_version():
        items = ItemVectors.from_index(settings)
    space = BehaviourSpace(checkpoint.sequence, items, threads=None)
    vectors = {item: space.vectors[row].tolist() for row, item in enumerate(items.ids)}
    index = items_index(settings)
    live = write_learned_vectors(index, checkpoint.version, vectors, progress=progress)
    return Published(checkpoint.version, live, len(vectors))


def serves_learned_vectors(settings: Settings, version: str) -> bool:
    """Whether the live index version holds the learned vectors of model ``version``."""
    return learned_model(items_index(settings)) == version


def publish_active(settings: Settings, progress: ProgressFn | None = None) -> Published | None:
    """Publish the active version's learned vectors (None: no active version, or one without a sequence model)."""
    from core.store import open_store
    from ranker.model.checkpoint import load_checkpoint
    from ranker.model.registry import active_version

    found = active_version(open_store(settings.store))
    return publish_learned_vectors(settings, load_checkpoint(found.path), progress) if found else None
