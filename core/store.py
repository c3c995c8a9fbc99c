"""The project's SQL store: one SQLAlchemy engine (through SQLModel) for SQLite or PostgreSQL, and its schema.

Tables are SQLModel classes declared by the modules that own them (the enrichment cache, events, profiles, the
model registry), but they are created and changed only by the Alembic migrations in ``core/migrations/``: every
code path gets its engine from :func:`open_store`, which brings the schema to the newest revision (or says how).

    empty database                          every table is created (also with ``migrate=False``)
    made by the release before migrations   adopted (the baseline creates only what it lacks), then upgraded
    behind the newest revision              upgraded
    at a revision this release lacks        a ConfigError (a newer release made it)

With ``migrate=False`` (the ranking service) the second and third are a ConfigError naming ``recadmin db upgrade``.

Concurrent upgrades (two commands, or a command and the service, started at once) are serialised by the database:
PostgreSQL through a transaction-level advisory lock, SQLite through ``BEGIN IMMEDIATE`` (its single writer); the
revision is read again under the lock, so the second one finds the schema at head and does nothing. The whole
upgrade is one transaction on both (their DDL is transactional): a failed migration leaves the store as it was.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel import create_engine

from core.errors import ConfigError
from core.redact import mask_password
from core.settings import StoreSettings

#: The folder Alembic reads (env.py, versions/); shipped as package data.
MIGRATIONS = Path(__file__).resolve().with_name("migrations")
#: The tables of the last release before migrations: any of them without ``alembic_version`` is such a store.
RELEASE_TABLES = ("events", "profile_entries", "event_imports", "ranker_model_versions", "enrichment_cache")
UPGRADE_COMMAND = "recadmin db upgrade"
_PG_LOCK_KEY = 0x7265637365617263  # "recsearc": one advisory lock for every recsearch schema of a database

State = Literal["empty", "unversioned", "behind", "current", "unknown"]


def is_memory_sqlite(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``, a ``file::memory:``
    or ``mode=memory`` URI): one process's private store, gone when it exits."""
    if not url.startswith("sqlite"):
        return False
    rest = url.split("://", 1)[1] if "://" in url else ""
    database = rest[1:] if rest.startswith("/") else rest  # sqlite:///PATH: the path after the third slash
    return database.split("?", 1)[0] in ("", ":memory:") or ":memory:" in database or "mode=memory" in database


#: Every SQLite connection's settings, in order.
SQLITE_PRAGMAS = (
    # WAL: readers never block the writer (the service reads profiles while an import writes).
    "journal_mode=WAL",
    # FULL: a commit the service answered 200 for (POST /v1/events) survives a power loss; in WAL mode that is one
    # sync per commit, which the import's 50k-row batches do not notice.
    "synchronous=FULL",
    "foreign_keys=ON",
    "busy_timeout=30000",
    # Temporary tables (the event import's staging table) and sorts in memory, not in temporary files.
    "temp_store=MEMORY",
)


def conflict_insert(conn: Connection, table):
    """``INSERT`` into ``table`` in the connection's dialect (SQLite or PostgreSQL), so the caller can add
    ``on_conflict_do_nothing()`` or ``on_conflict_do_update(...)``, which the generic insert lacks."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


@dataclass(frozen=True)
class EngineLimits:
    """How long the engine may wait, and on how many connections (``RECSEARCH_STORE_POOL_*``, ``_*_TIMEOUT_S``,
    ``_KEEPALIVES_*``). ``statement_timeout_s`` (PostgreSQL) is set only on the service's engine: a command's import
    or training read may rightly run longer. The defaults are SQLAlchemy's pool with shorter waits."""

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout_s: float = 10.0
    connect_timeout_s: int = 5
    statement_timeout_s: float = 0.0
    keepalives_idle_s: int = 30
    keepalives_interval_s: int = 10
    keepalives_count: int = 3

    @classmethod
    def of(cls, settings: StoreSettings, *, service: bool = False) -> EngineLimits:
        """The limits ``settings`` name; with the statement timeout only for the ``service``."""
        return cls(
            settings.pool_size, settings.pool_max_overflow, settings.pool_timeout_s, settings.connect_timeout_s,
            settings.statement_timeout_s if service else 0.0, settings.keepalives_idle_s,
            settings.keepalives_interval_s, settings.keepalives_count,
        )  # fmt: skip

    def engine_args(self, url: str) -> dict:
        """``create_engine`` keyword arguments for ``url``: the pool's size and wait; for PostgreSQL the libpq
        connect timeout, TCP keepalives and statement timeout (added to any ``options`` the URL carries)."""
        if is_memory_sqlite(url):
            return {}  # a single-thread pool: nothing to size
        args: dict = dict(pool_size=self.pool_size, max_overflow=self.max_overflow, pool_timeout=self.pool_timeout_s)
        if url.startswith("postgresql"):
            connect: dict = dict(
                connect_timeout=self.connect_timeout_s, keepalives=1, keepalives_idle=self.keepalives_idle_s,
                keepalives_interval=self.keepalives_interval_s, keepalives_count=self.keepalives_count,
            )  # fmt: skip
            if self.statement_timeout_s > 0:
                from sqlalchemy.engine import make_url

                given = make_url(url).query.get("options") or ""
                given = given if isinstance(given, str) else " ".join(given)
                ms = max(int(self.statement_timeout_s * 1000), 1)
                connect["options"] = f"{given} -c statement_timeout={ms}".strip()
            args["connect_args"] = connect
        return args


def make_engine(url: str, echo: bool = False, limits: EngineLimits | None = None) -> Engine:
    """An engine for ``url`` (cached per URL and limits), schema untouched: use :func:`open_store` to read or write
    tables. SQLite files get their folder created and WAL mode."""
    return _engine(url, bool(echo), limits or EngineLimits())  # one cache key however it is called: one pool


@lru_cache(maxsize=8)
def _engine(url: str, echo: bool, limits: EngineLimits) -> Engine:
    try:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, pool_pre_ping=not url.startswith("sqlite"), **limits.engine_args(url))
    except (ArgumentError, ImportError, TypeError) as e:
        raise ConfigError(f"bad RECSEARCH_STORE_URL '{mask_password(url)}': {e}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@dataclass(frozen=True)
class SchemaStatus:
    """Where a store's schema stands against this release's migrations."""

    url: str  # password masked
    current: str | None  # the revision stamped in the database (None: none)
    head: str  # the newest revision this release knows
    pending: tuple[str, ...]  # revisions an upgrade would apply, oldest first
    state: State

    def describe(self) -> str:
        """The current revision in words."""
        if self.state == "empty":
            return "empty (no tables yet)"
        if self.state == "unversioned":
            return "no revision (made by a release before schema migrations)"
        return f"revision {self.current}"


_at_head: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines checked at head once: the check is not repeated
_open_lock = threading.Lock()


def open_store(settings: StoreSettings, *, migrate: bool = True, service: bool = False) -> Engine:
    """The engine of the store ``settings`` names, its schema at this release's newest revision.

    ``migrate=True`` (commands, library calls) applies pending migrations; ``migrate=False`` (the long-running
    service, which must not change the schema under a running shop) only creates the tables of an empty store and
    raises :class:`ConfigError` naming ``recadmin db upgrade`` for one behind. Cheap after the first call per engine.
    ``service``: the ranking service's engine, with ``RECSEARCH_STORE_STATEMENT_TIMEOUT_S`` (see
    :class:`EngineLimits`).
    """
    engine = make_engine(settings.url, settings.echo, EngineLimits.of(settings, service=service))
    if engine in _at_head:
        return engine
    with _open_lock:
        if engine in _at_head:
            return engine
        status = schema_status(engine)
        if status.state in ("unversioned", "behind") and not migrate:
            raise ConfigError(
                f"the store at {status.url} has {status.describe()}, this release needs revision {status.head}: "
                f"run `{UPGRADE_COMMAND}`"
            )
        if status.state != "current":
            upgrade(engine)
        _at_head.add(engine)
    return engine


def schema_status(engine: Engine) -> SchemaStatus:
    """The store's revision against this release's head (reads only; an unknown revision is state ``unknown``)."""
    from alembic.runtime.migration import MigrationContext

    script = _script()
    head = script.get_current_head()
    with _connected(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        tables = set(inspect(conn).get_table_names()) if current is None else set()
    if current is not None and current not in _known_revisions():
        return SchemaStatus(mask_password(str(engine.url)), current, head, (), "unknown")
    pending = tuple(r.revision for r in script.iterate_revisions(head, current))[::-1]
    if current is None:
        state: State = "unversioned" if tables & set(RELEASE_TABLES) else "empty"
    else:
        state = "behind" if pending else "current"
    return SchemaStatus(mask_password(str(engine.url)), current, head, pending, state)


def upgrade(engine: Engine) -> tuple[str, ...]:
    """Apply the pending migrations under the database's lock; returns the revisions this call applied (none when
    another process got there first). :class:`ConfigError` for a revision this release does not know."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    with _connected(engine, begin=True) as conn:
        _lock(conn)
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in _known_revisions():
            raise ConfigError(
                f"the store at {mask_password(str(engine.url))} is at revision {current}, which this release does not "
                f"know (newest: {_script().get_current_head()}); it was made by a newer recsearch: upgrade recsearch"
            )
        applied = tuple(r.revision for r in _script().iterate_revisions("heads", current))[::-1]
        if applied:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn  # env.py runs on this connection, inside this transaction
            command.upgrade(config, "head")
    _at_head.add(engine)
    return applied


def _lock(conn: Connection) -> None:
    """Take the database's migration lock for the rest of the transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    elif conn.dialect.name == "sqlite":
        # The Python driver opens no transaction for DDL; IMMEDIATE takes the write lock now (waits busy_timeout).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _connected(engine: Engine, begin: bool = False) -> Iterator[Connection]:
    """A connection (in a transaction with ``begin``: an upgrade) whose database errors become one-line
    ConfigErrors."""
    try:
        with engine.begin() if begin else engine.connect() as conn:
            yield conn
    except DBAPIError as e:
        reason = (str(e.orig).strip().splitlines() or [type(e.orig).__name__])[0]
        doing = "upgrade" if begin else "open"
        raise ConfigError(f"cannot {doing} the store at {mask_password(str(engine.url))}: {reason}") from None


@lru_cache(maxsize=1)
def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


@lru_cache(maxsize=1)
def _known_revisions() -> frozenset[str]:
    return frozenset(r.revision for r in _script().walk_revisions())
