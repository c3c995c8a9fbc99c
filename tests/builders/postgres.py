"""The real PostgreSQL server for store tests, and a store URL fixture that runs a test on SQLite and PostgreSQL.

`scripts/postgres start` installs (Debian package), initialises and starts the server; a server that cannot start
FAILS the tests that need it, it never skips them. Each PostgreSQL test gets a schema of its own, dropped after.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.paths import ROOT


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The SQLAlchemy URL of the test database on the project's local PostgreSQL server (started if needed)."""
    done = subprocess.run([str(ROOT / "scripts" / "postgres"), "start"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"PostgreSQL could not start (scripts/postgres start):\n{done.stderr}{done.stdout}", pytrace=False)
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty store: a SQLite file, or a schema of its own on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import psycopg

    base = request.getfixturevalue("postgres_server")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{base}?options=-csearch_path%3D{schema}"
    yield url
    from core.store import make_engine

    make_engine(url).dispose()  # close the pooled connections into the schema
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
