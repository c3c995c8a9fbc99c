"""The feedback operations, one function per user action: import a file, sync with the catalog, show, export
and forget a user, report what was shown and clicked (UBI).
The CLI (`recadmin feedback ...`, `recadmin users ...`) and the tests call these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from core.errors import ConfigError, InputError
from core.settings import Settings
from core.store import open_store
from ranker.feedback.attribution import UbiReport, ubi_report
from ranker.feedback.catalog_sync import CatalogIds, CatalogSync, LiveCatalogIds, sync_catalog
from ranker.feedback.importer import ImportResult, ProgressFn, import_events
from ranker.feedback.impression_recorder import sink_for
from ranker.feedback.impression_sinks import OpenSearchImpressions
from ranker.feedback.mapping import EventMapping
from ranker.feedback.profiles import Interaction, ProfileStore


def store_engine(settings: Settings) -> Engine:
    """The project's store, its schema brought to head (pending migrations applied)."""
    return open_store(settings.store)


def live_catalog(settings: Settings) -> CatalogIds:
    """The item ids of the live index (raises a clear error when the cluster or the index is missing)."""
    return LiveCatalogIds(settings)


def import_file(
    settings: Settings,
    path: Path,
    *,
    fmt: str | None = None,
    mapping: str | None = None,
    check_catalog: bool = True,
    catalog: CatalogIds | None = None,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import an event file; with ``check_catalog`` the live index says which items exist."""
    parsed = EventMapping.parse(mapping)
    if catalog is None and check_catalog:
        catalog = live_catalog(settings)
    return import_events(store_engine(settings), settings, path, fmt=fmt, mapping=parsed, catalog=catalog,
                         progress=progress)  # fmt: skip


def sync_with_catalog(settings: Settings, catalog: CatalogIds | None = None, force: bool = True) -> CatalogSync:
    """Flag events of items that left the live catalog and rebuild the profiles that held them (``force``: even
    when the catalog has not changed since the last sync, as `recadmin feedback sync-catalog` asks)."""
    return sync_catalog(store_engine(settings), catalog or live_catalog(settings), settings.events.history_length,
                        force=force)  # fmt: skip


def rebuild_profiles(settings: Settings, progress: ProgressFn | None = None, batch: int = 500) -> int:
    """Recompute every user's profile from the stored events with the current ``RECSEARCH_EVENTS_HISTORY_LENGTH``
    (after raising it: profiles are kept incrementally, so a longer one fills only as new events come). One
    transaction per ``batch`` users: a killed run leaves each profile either as it was or rebuilt. Returns how many
    profiles were rebuilt."""
    from sqlalchemy import select

    from ranker.feedback.tables import EventRow
    from ranker.feedback.writer import rebuild_profiles as rebuild

    engine = store_engine(settings)
    with engine.connect() as conn:
        users = conn.execute(select(EventRow.__table__.c.user_id).distinct().order_by("user_id")).scalars().all()
    for start in range(0, len(users), batch):
        with engine.begin() as conn:
            rebuild(conn, users[start : start + batch], settings.events.history_length)
        if progress:
            progress(min(start + batch, len(users)), len(users))
    return len(users)


@dataclass
class UserSummary:
    """What `recadmin users show` prints."""

    user_id: str
    events: int
    history: list[Interaction]


def show_user(settings: Settings, user_id: str, limit: int | None = None) -> UserSummary:
    """The user's event count and profile (newest first); an error when nothing is stored for the user."""
    store = ProfileStore(store_engine(settings), settings)
    count = store.event_count(user_id)
    if not count:
        raise InputError(f"no events stored for user '{user_id}'", field="user_id")
    return UserSummary(user_id, count, store.history(user_id, limit))


def export_user(settings: Settings, user_id: str, target: Path | None = None) -> dict[str, Any]:
    """Everything stored about the user; written as JSON to ``target`` when given."""
    store = ProfileStore(store_engine(settings), settings)
    data = store.export_user(user_id)
    if not data["events"]:
        raise InputError(f"no events stored for user '{user_id}'", field="user_id")
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


def delete_user(settings: Settings, user_id: str) -> dict[str, int]:
    """Forget the user (every event and profile row); rows deleted per table (zeros when nothing was stored)."""
    return ProfileStore(store_engine(settings), settings).delete_user(user_id)


def report_ubi(settings: Settings, *, max_position: int = 20, click_type: str = "click") -> UbiReport:
    """`recadmin ubi report`: answers recorded in the ``RECSEARCH_UBI_SINK``, the store's events attributed to them,
    and the CTR by position (:func:`ranker.feedback.attribution.ubi_report`)."""
    if max_position < 1:
        raise InputError(f"must be at least 1, got {max_position}", field="max_position")
    engine = store_engine(settings)
    sink = sink_for(settings, lambda: engine)
    if sink is None:
        raise ConfigError("RECSEARCH_UBI_SINK is none: no impressions are recorded; set it to store or opensearch")
    if isinstance(sink, OpenSearchImpressions):
        sink.refresh() if _index_exists(sink) else None
    return ubi_report(engine, sink, settings.ubi.sink, max_position=max_position, click_type=click_type)


def _index_exists(sink: OpenSearchImpressions) -> bool:
    from core.opensearch.client import translate_errors

    with translate_errors(sink.settings.url, sink.index):
        return bool(sink.client.indices.exists(index=sink.index))
