"""Feedback: the shop's events in, user profiles out.

Events come from files (``recadmin feedback import``: CSV, JSONL, Parquet, Online Retail, UBI) and from the
service (``POST /v1/events``); they are stored once per event id, and each user's newest interactions form their
profile, which every ranked request reads. :func:`load_events` is the one way training, fine-tuning and the
evaluation read events (the store, or a file read exactly as the import reads it).
"""

from ranker.feedback.api import (
    UserSummary,
    delete_user,
    export_user,
    import_file,
    live_catalog,
    rebuild_profiles,
    show_user,
    store_engine,
    sync_with_catalog,
)
from ranker.feedback.catalog_sync import CatalogIds, CatalogSync, HeldCatalogIds, LiveCatalogIds, SetCatalog
from ranker.feedback.events import EventIn, LiveEventIn
from ranker.feedback.frames import FRAME_COLUMNS, events_frame, events_frame_from_file, load_events
from ranker.feedback.importer import ImportResult
from ranker.feedback.profiles import IngestResult, Interaction, ProfileStore

__all__ = [
    "FRAME_COLUMNS",
    "CatalogIds",
    "CatalogSync",
    "EventIn",
    "HeldCatalogIds",
    "ImportResult",
    "IngestResult",
    "Interaction",
    "LiveCatalogIds",
    "LiveEventIn",
    "ProfileStore",
    "SetCatalog",
    "UserSummary",
    "delete_user",
    "events_frame",
    "events_frame_from_file",
    "export_user",
    "import_file",
    "live_catalog",
    "load_events",
    "rebuild_profiles",
    "show_user",
    "store_engine",
    "sync_with_catalog",
]
