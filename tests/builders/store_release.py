"""A store as the last release before migrations (recsearch 0.1.0) left it, a revision a later release might bring,
and the models-vs-migrations check.

The old store is built from that release's own DDL, frozen in ``tests/fixtures/store-0.1.0.<dialect>.sql`` (the
statements its ``SQLModel.metadata.create_all`` emitted, captured once): the table modules will change with future
revisions, so re-running ``create_all`` later would no longer give the old schema. Its rows are written with plain
SQL in the formats that release wrote (SQLite times as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, booleans as 0/1), not
through today's library, for the same reason.
"""

from __future__ import annotations

import shutil
import textwrap
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import store
from tests.paths import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
TABLES = ("events", "profile_entries", "event_imports", "ranker_model_versions", "enrichment_cache")
T0 = datetime(2011, 1, 1, 12, 0, 0)
CREATED = datetime(2024, 5, 1, 8, 30, 0, tzinfo=UTC)


def release_statements(dialect: str, tables: tuple[str, ...] = TABLES) -> list[str]:
    """The release's CREATE TABLE / CREATE INDEX statements for ``dialect``, only those of ``tables``."""
    text = (FIXTURES / f"store-0.1.0.{dialect}.sql").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in body.split(";") if s.strip()]
    return [s for s in statements if _table_of(s) in tables]


def _table_of(statement: str) -> str:
    words = statement.replace("(", " ").split()
    return words[2] if words[1] == "TABLE" else words[words.index("ON") + 1]


def make_release_store(engine: Engine, tables: tuple[str, ...] = TABLES) -> None:
    """Create the release's ``tables`` on ``engine`` (no ``alembic_version``) and fill each with a few rows."""
    with engine.begin() as conn:
        for statement in release_statements(engine.dialect.name, tables):
            conn.exec_driver_sql(statement)
        for name, rows in RELEASE_ROWS.items():
            if name in tables:
                conn.execute(_table(name, rows[0]).insert(), rows)


def _table(name: str, row: dict) -> sa.TableClause:
    kinds = {datetime: sa.DateTime(timezone=True), bool: sa.Boolean(), float: sa.Float(), int: sa.Integer()}
    return sa.table(name, *(sa.column(k, kinds.get(type(v), sa.String())) for k, v in row.items()))


def _event(n: int, user: str, item: str, type_: str, **extra) -> dict:
    ts = T0.replace(hour=12 + n)
    return {"event_id": f"e{n}", "user_id": user, "item_id": item, "type": type_, "ts": ts, "quantity": 1.0,
            "value": 2.5, "query": None, "session_id": None, "in_catalog": True} | extra  # fmt: skip


RELEASE_ROWS: dict[str, list[dict]] = {
    "events": [
        _event(0, "u1", "A", "view"),
        _event(1, "u1", "B", "purchase"),
        _event(2, "u2", "A", "purchase", in_catalog=False, session_id="s9", query="red mug"),
    ],
    "profile_entries": [
        {"user_id": "u1", "event_id": "e0", "item_id": "A", "type": "view", "ts": T0.replace(hour=12)},
        {"user_id": "u1", "event_id": "e1", "item_id": "B", "type": "purchase", "ts": T0.replace(hour=13)},
    ],
    "event_imports": [
        {
            "path": "/data/events.csv",
            "fingerprint": "f" * 64,
            "format": "csv",
            "started_at": T0,
            "finished_at": T0,
            "rows_read": 3,
            "events_added": 3,
            "rejected": 0,
            "status": "done",
        },
    ],
    "ranker_model_versions": [
        {
            "version": "v1",
            "number": 1,
            "created_at": CREATED,
            "path": "/models/v1.pt",
            "metrics_json": '{"val_ndcg@10": 0.3}',
            "info_json": "{}",
            "active": False,
        },
        {
            "version": "v2",
            "number": 2,
            "created_at": CREATED,
            "path": "/models/v2.pt",
            "metrics_json": '{"val_ndcg@10": 0.4}',
            "info_json": '{"seconds": 9}',
            "active": True,
        },
    ],
    "enrichment_cache": [
        {
            "content_hash": "h1",
            "model": "smollm2",
            "prompt_version": "enrich-v1",
            "ok": True,
            "description": "A red mug.",
            "attributes_json": '{"color": "red"}',
            "reason": "",
            "similarity": 0.8,
            "created_at": CREATED,
        },
        {
            "content_hash": "h2",
            "model": "smollm2",
            "prompt_version": "enrich-v1",
            "ok": False,
            "description": "",
            "attributes_json": "{}",
            "reason": "not grounded",
            "similarity": 0.1,
            "created_at": CREATED,
        },
    ],
}


def drift(engine: Engine) -> list:
    """What Alembic's autogenerate finds between every table model and the database's schema ([] = none)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import indexer.enrichment.cache  # noqa: F401  every module that declares a table
    import ranker.experiments.store
    import ranker.feedback.tables
    import ranker.model.registry  # noqa: F401

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, SQLModel.metadata)


def stamp_release_store(engine: Engine, revision: str = "0001") -> None:
    """Mark a release store as at ``revision`` (the baseline creates exactly the release's schema)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{revision}')")


#: This release's newest revision, and the one a later release would add after it.
HEAD = store._script().get_current_head()
NEXT = f"{int(HEAD) + 1:04d}"
#: Every revision of this release, oldest first.
REVISIONS = tuple(r.revision for r in store._script().walk_revisions())[::-1]

FUTURE = textwrap.dedent(
    f'''
    """A revision a later release might bring: a new column, and a widened one (a table copy on SQLite)."""
    import sqlalchemy as sa
    from alembic import op

    revision = "{NEXT}"
    down_revision = "{HEAD}"
    branch_labels = None
    depends_on = None


    def upgrade() -> None:
        with op.batch_alter_table("events") as batch:
            batch.add_column(sa.Column("channel", sa.String(16), nullable=True))
            batch.alter_column("session_id", existing_type=sa.String(128), type_=sa.String(256))


    def downgrade() -> None:
        with op.batch_alter_table("events") as batch:
            batch.alter_column("session_id", existing_type=sa.String(256), type_=sa.String(128))
            batch.drop_column("channel")
    '''
)


def ship_revision(tmp_path: Path, monkeypatch, source: str, name: str = f"{NEXT}_future.py") -> None:
    """Make ``core.store`` use this release's migrations plus one more revision (undone with ``monkeypatch``)."""
    folder = tmp_path / "migrations"
    shutil.copytree(store.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / name).write_text(source)
    monkeypatch.setattr(store, "MIGRATIONS", folder)
    # fresh caches for the patched folder; undoing the patch brings back the originals, still filled
    monkeypatch.setattr(store, "_script", lru_cache(maxsize=1)(store._script.__wrapped__))
    monkeypatch.setattr(store, "_known_revisions", lru_cache(maxsize=1)(store._known_revisions.__wrapped__))


@pytest.fixture
def future_release(tmp_path, monkeypatch) -> str:
    """This release's migrations plus one more revision (:data:`NEXT`), as a newer release would ship them."""
    ship_revision(tmp_path, monkeypatch, FUTURE)
    return NEXT
