"""Feedback: the shop's events in, user profiles out.

Events come from files (``recadmin feedback import``: CSV, JSONL, Parquet, Online Retail, UBI) and from the
service (``POST /v1/events``); they are stored once per event id, and each user's newest interactions form their
profile, which every ranked request reads. What the service showed for each ``query_id`` is recorded as UBI
queries (:mod:`.impressions`), and events carrying that query_id are attributed to it (:mod:`.attribution`).
:func:`load_events` is the one way training, fine-tuning and the evaluation read events (the store, or a file read
exactly as the import reads it).
"""

from ranker.feedback.api import (
    UserSummary,
    delete_user,
    export_user,
    import_file,
    live_catalog,
    rebuild_profiles,
    report_ubi,
    show_user,
    store_engine,
    sync_with_catalog,
)
from ranker.feedback.attribution import AttributedEvent, Attribution, UbiReport, attribute
from ranker.feedback.catalog_sync import CatalogIds, CatalogSync, HeldCatalogIds, LiveCatalogIds, SetCatalog
from ranker.feedback.events import EventIn, LiveEventIn
from ranker.feedback.frames import FRAME_COLUMNS, events_frame, events_frame_from_file, load_events, require_events
from ranker.feedback.importer import ImportResult
from ranker.feedback.impression_recorder import ImpressionRecorder, NoImpressions, recorder_for, sink_for
from ranker.feedback.impression_sinks import ImpressionSink, OpenSearchImpressions, StoreImpressions
from ranker.feedback.impressions import POPULARITY, QUERY_ID_PATTERN, RETRIEVAL, Impression, Shown, new_query_id, shown
from ranker.feedback.profiles import IngestResult, Interaction, ProfileStore

__all__ = [
    "FRAME_COLUMNS",
    "POPULARITY",
    "QUERY_ID_PATTERN",
    "RETRIEVAL",
    "AttributedEvent",
    "Attribution",
    "CatalogIds",
    "CatalogSync",
    "EventIn",
    "HeldCatalogIds",
    "ImportResult",
    "Impression",
    "ImpressionRecorder",
    "ImpressionSink",
    "IngestResult",
    "Interaction",
    "LiveCatalogIds",
    "LiveEventIn",
    "NoImpressions",
    "OpenSearchImpressions",
    "ProfileStore",
    "SetCatalog",
    "Shown",
    "StoreImpressions",
    "UbiReport",
    "UserSummary",
    "attribute",
    "delete_user",
    "events_frame",
    "events_frame_from_file",
    "export_user",
    "import_file",
    "live_catalog",
    "load_events",
    "new_query_id",
    "rebuild_profiles",
    "recorder_for",
    "report_ubi",
    "require_events",
    "show_user",
    "shown",
    "sink_for",
    "store_engine",
    "sync_with_catalog",
]
