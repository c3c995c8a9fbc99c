"""The store's schema on SQLite: created by the migrations, checked against the models, upgraded or refused with
a clear line, and `recadmin db status|upgrade`. On SQLite and PostgreSQL:
tests/integration/core/test_store_upgrade.py."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import inspect

from cli.main import run
from core import store
from core.errors import ComponentUnavailable, ConfigError
from core.settings import Settings, StoreSettings, get_settings
from core.store import is_memory_sqlite, make_engine, open_store, schema_status, upgrade
from tests.builders.store_release import (  # noqa: F401  (future_release: a fixture)
    HEAD,
    REVISIONS,
    TABLES,
    drift,
    future_release,
    make_release_store,
    stamp_release_store,
)


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def _stamp(url: str, revision: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))


def test_an_empty_store_gets_every_table_at_head(url):
    engine = open_store(StoreSettings(url=url))
    assert set(TABLES) <= set(inspect(engine).get_table_names())
    found = schema_status(engine)
    assert (found.state, found.current, found.pending) == ("current", found.head, ())
    assert open_store(StoreSettings(url=url)) is engine  # cached: the second call checks nothing


def test_the_migrations_create_exactly_what_the_models_declare(url):
    """The drift check: a model changed without a revision (or a revision without its model) fails here."""
    engine = open_store(StoreSettings(url=url))
    assert drift(engine) == []
    with engine.begin() as conn:  # the check is not blind: a missing index and a stray column are differences
        conn.exec_driver_sql("DROP INDEX ix_profile_user_ts")
        conn.exec_driver_sql("ALTER TABLE events ADD COLUMN stray VARCHAR(8)")
    kinds = sorted(d[0] for d in drift(engine))
    assert kinds == ["add_index", "remove_column"]


def test_the_service_never_migrates_a_store_of_an_older_release(url):
    from ranker.service.deps import ServiceDeps

    make_release_store(make_engine(url))
    deps = ServiceDeps(Settings(store=StoreSettings(url=url)))
    with pytest.raises(ComponentUnavailable) as refused:
        deps.profiles.get()
    assert str(refused.value) == (
        f"profile_store unavailable: the store at {url} has no revision (made by a release before schema "
        f"migrations), this release needs revision {HEAD}: run `recadmin db upgrade`"
    )
    assert schema_status(make_engine(url)).state == "unversioned"
    upgrade(make_engine(url))  # what `recadmin db upgrade` does; the service's next try finds the store ready
    deps.profiles.reset()
    assert [h.item_id for h in deps.profiles.get().history("u1")] == ["B", "A"]


def test_the_service_creates_the_tables_of_an_empty_store(tmp_path):
    from ranker.service.deps import ServiceDeps

    url = f"sqlite:///{tmp_path / 'new' / 'store.db'}"
    assert ServiceDeps(Settings(store=StoreSettings(url=url))).profiles.get().history("u1") == []
    assert schema_status(make_engine(url)).state == "current"


def test_a_store_behind_head_is_upgraded_or_refused_with_the_command(url, future_release):
    engine = make_engine(url)
    make_release_store(engine)
    stamp_release_store(engine)  # at the baseline with rows, as the first release with migrations left it
    assert schema_status(engine).pending == (*REVISIONS[1:], future_release)
    with pytest.raises(ConfigError) as refused:
        open_store(StoreSettings(url=url), migrate=False)
    assert str(refused.value) == (
        f"the store at {url} has revision 0001, this release needs revision {future_release}: run `recadmin db upgrade`"
    )
    assert open_store(StoreSettings(url=url)) is engine
    assert schema_status(engine).current == future_release
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT event_id, session_id, channel FROM events ORDER BY event_id").all() == [
            ("e0", None, None), ("e1", None, None), ("e2", "s9", None)
        ]  # fmt: skip
    assert {i["name"] for i in inspect(engine).get_indexes("events")} == {
        "ix_events_user_ts", "ix_events_item", "ix_events_query_id", "ix_events_ts"
    }  # fmt: skip


def test_a_store_of_the_release_before_migrations_is_refused_by_the_service(url):
    make_release_store(make_engine(url))
    with pytest.raises(ConfigError, match="has no revision \\(made by a release before schema migrations\\), this "
                                          f"release needs revision {HEAD}: run `recadmin db upgrade`"):  # fmt: skip
        open_store(StoreSettings(url=url), migrate=False)


def test_a_store_of_a_newer_release_is_a_clear_error(url):
    engine = open_store(StoreSettings(url=url))
    _stamp(url, "0099")
    found = schema_status(engine)
    assert (found.state, found.current, found.pending) == ("unknown", "0099", ())
    newest = f"is at revision 0099, which this release does not know \\(newest: {HEAD}\\); "
    with pytest.raises(ConfigError, match=newest + "it was made by a newer recsearch: upgrade recsearch"):
        upgrade(engine)
    store._at_head.discard(engine)  # as in a new process: open_store checks again
    with pytest.raises(ConfigError, match="revision 0099, which this release does not know"):
        open_store(StoreSettings(url=url))


def test_an_unreachable_store_is_one_line_without_the_password():
    engine = make_engine("postgresql+psycopg://shop:s3cret@127.0.0.1:1/shop")
    with pytest.raises(ConfigError) as failed:
        schema_status(engine)
    message = str(failed.value)
    assert message.startswith("cannot open the store at postgresql+psycopg://shop:****@127.0.0.1:1/shop: ")
    assert "s3cret" not in message and "\n" not in message


@pytest.fixture
def cli_store(monkeypatch, tmp_path, url):
    monkeypatch.setenv("RECSEARCH_STORE_URL", url)
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_db_status_and_upgrade(cli_store, capsys):
    assert run(["db", "status"]) == 0
    shown = capsys.readouterr().out
    every = ", ".join(REVISIONS)
    assert "current: empty (no tables yet)" in shown and f"pending: {every}; run `recadmin db upgrade`" in shown
    assert run(["db", "upgrade"]) == 0
    assert f"the store at {cli_store} is at revision {HEAD}; applied {every}" in capsys.readouterr().out
    assert run(["db", "upgrade"]) == 0
    assert f"already at revision {HEAD}; nothing to apply" in capsys.readouterr().out
    assert run(["db", "status"]) == 0
    shown = capsys.readouterr().out
    assert f"current: revision {HEAD}" in shown and "up to date" in shown


def test_db_commands_on_a_store_of_a_newer_release(cli_store, capsys):
    open_store(StoreSettings(url=cli_store))
    _stamp(cli_store, "0099")
    assert run(["db", "status"]) == 0
    assert "does not know revision 0099: the store was made by a newer recsearch" in capsys.readouterr().out
    assert run(["db", "upgrade"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: the store at") and "revision 0099, which this release does not know" in err


def test_db_upgrade_adopts_a_store_of_the_release_before_migrations(cli_store, capsys):
    make_release_store(make_engine(cli_store))
    assert run(["db", "status"]) == 0
    assert "current: no revision (made by a release before schema migrations)" in capsys.readouterr().out
    assert run(["db", "upgrade"]) == 0
    assert f"applied {', '.join(REVISIONS)}" in capsys.readouterr().out
    with make_engine(cli_store).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one() == 3


@pytest.mark.parametrize(
    ("url", "memory"),
    [
        ("sqlite://", True),
        ("sqlite:///:memory:", True),
        ("sqlite:///file::memory:?cache=shared&uri=true", True),
        ("sqlite:///file:shop?mode=memory&cache=shared&uri=true", True),
        ("sqlite:///store.db", False),
        ("sqlite:////var/lib/shop/store.db", False),
        ("sqlite:///memory.db", False),
        ("postgresql+psycopg://u:p@h/db", False),
    ],
)
def test_in_memory_sqlite_urls_are_told_from_files_and_servers(url, memory):
    assert is_memory_sqlite(url) is memory


def test_the_bare_in_memory_url_opens_a_store():
    """``sqlite://`` (SQLAlchemy's in-memory URL) gets the single-thread pool, not the file pool's arguments."""
    engine = make_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select 1").scalar() == 1
