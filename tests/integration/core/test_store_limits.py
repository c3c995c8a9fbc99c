"""The store engine's limits (review H2) on SQLite and PostgreSQL: the pool's size and wait come from the settings;
on PostgreSQL the service's engine also has a statement timeout, TCP keepalives and a connect timeout, and keeps
the options the URL already carries (the test schema's search_path)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.settings import StoreSettings
from core.store import EngineLimits, make_engine, open_store

LIMITS = dict(pool_size=2, pool_max_overflow=1, pool_timeout_s=0.3, statement_timeout_s=0.25, keepalives_idle_s=17,
              connect_timeout_s=4)  # fmt: skip


def test_the_pool_is_sized_and_a_full_pool_fails_after_its_timeout(store_url):
    engine = open_store(StoreSettings(url=store_url, **LIMITS), service=True)
    assert (engine.pool.size(), engine.pool._max_overflow) == (2, 1)
    held = [engine.connect() for _ in range(3)]
    try:
        with pytest.raises(PoolTimeout):
            engine.connect()  # the fourth: no connection free within 0.3 s
    finally:
        for conn in held:
            conn.close()


def test_postgresql_gets_the_statement_timeout_keepalives_and_connect_timeout(postgres_server):
    store_url = f"{postgres_server}?options=-csearch_path%3Dlimits_test"
    settings = StoreSettings(url=store_url, **LIMITS)
    service = make_engine(store_url, limits=EngineLimits.of(settings, service=True))  # no tables needed here
    with service.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "250ms"
        assert conn.exec_driver_sql("SHOW search_path").scalar() == "limits_test"  # the URL's options kept
        params = conn.connection.dbapi_connection.info.get_parameters()
        assert (params["keepalives"], params["keepalives_idle"], params["connect_timeout"]) == ("1", "17", "4")
        with pytest.raises(OperationalError, match="statement timeout"):
            conn.exec_driver_sql("SELECT pg_sleep(2)")
    command = make_engine(store_url, limits=EngineLimits.of(settings))  # a command's engine: no statement timeout
    with command.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
    service.dispose()
    command.dispose()
