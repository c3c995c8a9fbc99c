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


class OwnPostgres:
    """A PostgreSQL server of one test's own (fault injection stops and starts it; the shared one keeps serving the
    other tests): initdb in ``home`` (under .state/, as `scripts/postgres` does), loopback only, trust auth.

        server = OwnPostgres(home, port).init()
        server.start(); server.kill(); server.start(); server.stop()
    """

    def __init__(self, home, port: int):
        from pathlib import Path

        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
        if not bins:
            pytest.fail("PostgreSQL is not installed: run scripts/postgres start once", pytrace=False)
        self.bin, self.home, self.port = bins[-1].parent, Path(home), port
        self.data, self.log = self.home / "data", self.home / "postgres.log"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str) -> None:
        import os

        owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*owner, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} {args[1:3]} failed: {done.stderr}{done.stdout}{tail}")

    def init(self) -> OwnPostgres:
        import os
        import shutil

        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.home.chmod(0o755)
            shutil.chown(self.home, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8")  # fmt: skip
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c max_connections=100"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                  options, "start")  # fmt: skip

    def kill(self) -> None:
        """Stop at once, as a crash does (``-m immediate``: no checkpoint; crash recovery at the next start)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
