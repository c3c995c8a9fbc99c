"""Putting the active model's learned item vectors into the live index, where OpenSearch k-NN serves them.

Two ways in. A catalog build (``recadmin index build``) is given :func:`active_learned_vectors` and writes each
item's learned vector with the rest of its document, so the new version holds them when it goes live. A model
activated on an existing version (``recadmin train --activate``, ``recadmin models activate``) has them written in
place (:func:`publish_learned_vectors`): every item of the live version gets the vector the version's sequence model
gives it (its learned id vector plus its text's projection; a new item its text's alone). Publishing to a version
that already holds the model's vectors writes nothing. A version without a sequence model publishes nothing; the
service then keeps to the text k-NN.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.progress import ProgressFn
from core.settings import Settings
from indexer.api import items_index
from indexer.learned import holds, learned_model, write_learned_vectors
from ranker.model.behaviour import BehaviourSpace, SequenceItemVectors
from ranker.model.checkpoint import Checkpoint
from ranker.model.item_vectors import ItemVectors


@dataclass(frozen=True)
class Published:
    """What a publication wrote: the model version, the index version, how many items (``written`` False: the
    version already held them, written by its build; ``items`` is then its document count)."""

    model: str
    index: str
    items: int
    written: bool = True


def publish_learned_vectors(
    settings: Settings,
    checkpoint: Checkpoint,
    progress: ProgressFn | None = None,
    items: ItemVectors | None = None,
    *,
    refresh_off: bool = True,
) -> Published | None:
    """Write ``checkpoint``'s learned item vectors into the live index version (None: the version has no sequence
    model, nothing is written; nothing is written either when the live version already holds them). ``items``: the
    live version's item vectors when already read. ``refresh_off``: as in
    :func:`indexer.learned.write_learned_vectors`."""
    if checkpoint.sequence is None:
        return None
    index = items_index(settings)
    live = index.require_live()
    if holds(index, live, checkpoint.version, checkpoint.sequence.model.config.dim):
        return Published(checkpoint.version, live, index.doc_count(live), written=False)
    if items is None or items.source != live:
        items = ItemVectors.from_index(settings)
    space = BehaviourSpace(checkpoint.sequence, items, threads=None)
    vectors = {item: space.vectors[row].tolist() for row, item in enumerate(items.ids)}
    live = write_learned_vectors(index, checkpoint.version, vectors, progress=progress, refresh_off=refresh_off)
    return Published(checkpoint.version, live, len(vectors))


def serves_learned_vectors(settings: Settings, version: str) -> bool:
    """Whether the live index version holds the learned vectors of model ``version``."""
    return learned_model(items_index(settings)) == version


def active_learned_vectors(settings: Settings) -> SequenceItemVectors | None:
    """The active version's learned vectors for a build to write with each document (None: no active version, or
    one without a sequence model). Loads the checkpoint: pass the function itself, which the build calls only when
    it writes a version."""
    from core.store import open_store
    from ranker.model.checkpoint import load_checkpoint
    from ranker.model.registry import active_version

    found = active_version(open_store(settings.store))
    if found is None:
        return None
    checkpoint = load_checkpoint(found.path)
    return None if checkpoint.sequence is None else SequenceItemVectors(checkpoint.sequence, checkpoint.version)


def publish_active(settings: Settings, progress: ProgressFn | None = None) -> Published | None:
    """Publish the active version's learned vectors (None: no active version, or one without a sequence model)."""
    from core.store import open_store
    from ranker.model.checkpoint import load_checkpoint
    from ranker.model.registry import active_version

    found = active_version(open_store(settings.store))
    return publish_learned_vectors(settings, load_checkpoint(found.path), progress) if found else None
