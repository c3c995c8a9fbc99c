"""One training run end to end: events and item vectors in, a checkpoint written and a version registered.

``recadmin train`` calls :func:`train_and_register`; so do the integration tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import RecSearchError
from core.paths import ranker_models
from core.progress import ProgressFn
from core.settings import Settings
from core.store import open_store
from ranker.feedback import load_events, require_events
from ranker.model import (
    ItemVectors,
    ModelVersion,
    Published,
    active_version,
    publish_learned_vectors,
    register_new,
    write_checkpoint,
)
from ranker.training.fit import FitResult, fit
from ranker.training.options import TrainOptions


@dataclass
class TrainRun:
    """A finished run: the registered version and the fit behind it."""

    registered: ModelVersion
    fit: FitResult
    #: The learned item vectors written into the index (None: not activated, or no sequence model).
    published: Published | None = None
    #: Why they could not be written (the version is registered and active all the same; the service keeps to the
    #: text k-NN until ``recadmin models publish``).
    publish_error: str | None = None


def train_and_register(
    settings: Settings,
    *,
    events: pd.DataFrame | None = None,
    events_file: Path | None = None,
    events_format: str | None = None,
    events_mapping: str | None = None,
    items: ItemVectors | None = None,
    options: TrainOptions | None = None,
    activate: bool | None = None,
    progress: ProgressFn | None = None,
    log: Callable[[str], None] | None = None,
    max_train_examples: int | None = None,
) -> TrainRun:
    """Fit a ranker, write its checkpoint and register it.

    The events: ``events`` when given, else ``events_file`` read as ``recadmin feedback import`` reads it (with its
    ``--format`` and ``--mapping``), else every imported event (:func:`ranker.feedback.frames.load_events`); read
    into compact columns, only those naming an item of ``items``, at most the newest
    ``RECSEARCH_RANKER_MAX_EVENTS``.

    ``activate=None`` activates the new version only when no version is active yet, so a retrain never swaps
    the served model without an explicit ``--activate`` (or ``recadmin models activate``).
    """
    engine = open_store(settings.store)
    options = options or TrainOptions.from_settings(settings.ranker, settings.sequence)
    if events is None:
        require_events(settings, events_file, events_format)
    if items is None:
        items = ItemVectors.from_index(settings)
    if events is None:
        # Compact columns, only the events of the item table's items (the rest training leaves out anyway), at most
        # the newest RECSEARCH_RANKER_MAX_EVENTS: what keeps a large event history within memory.
        events = load_events(settings, events_file, fmt=events_format, mapping=events_mapping, items=items.ids,
                             max_events=options.ranker.max_events, compact=True)  # fmt: skip
    result = fit(
        events,
        items,
        options,
        progress=progress,
        log=log,
        max_train_examples=max_train_examples,
    )
    should_activate = activate if activate is not None else active_version(engine) is None
    # The version is drawn only now, by inserting its row: trainings finishing at once get distinct numbers and
    # files, and the registry names the checkpoint only once it is whole (a kill leaves nothing registered).
    registered = register_new(
        engine,
        ranker_models(settings),
        lambda version, path: write_checkpoint(result.checkpoint(version, items), path),
        result.metrics,
        result.info,
        activate=should_activate,
    )
    version = registered.version
    if not registered.active:
        return TrainRun(registered, result)
    # The served model's learned item vectors go into the index now: the service queries them at once.
    try:
        published = publish_learned_vectors(settings, result.checkpoint(version, items), progress, items)
        return TrainRun(registered, result, published)
    except RecSearchError as e:
        return TrainRun(registered, result, publish_error=str(e))
