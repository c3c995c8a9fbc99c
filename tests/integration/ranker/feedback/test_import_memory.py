"""A first import's deferred index builds sort through a temporary file on SQLite (memory stays flat as the file
grows), and that setting never reaches the store's pooled connections (real SQLite)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from core.settings import EventsSettings, Settings, StoreSettings
from core.store import open_store
from ranker.feedback.importer import import_events
from ranker.feedback.tables import BULK_LOAD_INDEXES

FILE, MEMORY = 1, 2  # PRAGMA temp_store


def test_deferred_index_builds_sort_through_a_file_and_the_pool_keeps_memory(tmp_path: Path):
    path = tmp_path / "events.csv"
    lines = [f"u{n % 7},I{n % 11},view,2024-01-01T00:{n // 60:02d}:{n % 60:02d},1" for n in range(300)]
    path.write_text("user_id,item_id,type,ts,quantity\n" + "\n".join(lines) + "\n")
    settings = Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"), state_dir=tmp_path / "state",
                        events=EventsSettings(batch_size=100))  # fmt: skip
    engine = open_store(settings.store)
    builds: dict[str, int] = {}

    def seen(conn, cursor, statement, params, context, many) -> None:
        if statement.lstrip().upper().startswith("CREATE INDEX"):
            name = statement.split()[2]
            builds[name] = cursor.connection.execute("PRAGMA temp_store").fetchone()[0]

    event.listen(engine, "before_cursor_execute", seen)
    assert import_events(engine, settings, path).events_added == 300
    assert builds == dict.fromkeys(BULK_LOAD_INDEXES, FILE)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == MEMORY
