"""The project's SQL store: one SQLAlchemy engine (through SQLModel) for SQLite or PostgreSQL.

Tables are SQLModel classes declared by the modules that own them (the enrichment cache, events, profiles,
the model registry); :func:`create_tables` creates whatever is registered on ``SQLModel.metadata``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import SQLModel, create_engine

from core.errors import ConfigError


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer (the service reads profiles while an import writes).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Temporary tables (the event import's staging table) and sorts in memory, not in temporary files.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


@lru_cache(maxsize=8)
def make_engine(url: str, echo: bool = False) -> Engine:
    """An engine for ``url`` (cached per URL). SQLite files get their folder created and WAL mode."""
    try:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, pool_pre_ping=not url.startswith("sqlite"))
    except (ArgumentError, ImportError) as e:
        raise ConfigError(f"bad RECSEARCH_STORE_URL '{_mask(url)}': {e}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_tables(engine: Engine) -> None:
    """Create every registered table that does not exist yet."""
    try:
        SQLModel.metadata.create_all(engine)
    except OperationalError as e:
        raise ConfigError(f"cannot open the store at {_mask(str(engine.url))}: {str(e.orig).strip()}") from None


def _mask(url: str) -> str:
    """The URL with any password replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
