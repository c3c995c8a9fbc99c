"""Fixtures of the indexer's integration tests."""

import pytest

from core.settings import get_settings


@pytest.fixture
def cli_env(settings, monkeypatch):
    """``settings`` (the test's node, alias, state folder and store) also as the environment the CLI reads; yields
    them."""
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", settings.opensearch.url)
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_INDEX_ALIAS", settings.opensearch.index_alias)
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("RECSEARCH_STORE_URL", settings.store.url)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()
