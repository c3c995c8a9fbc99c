"""Deleting an items index version waits as long as the settings say, not the client's request timeout."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.errors import OpenSearchError
from core.settings import Settings
from indexer.index import ItemsIndex


class _Indices:
    def __init__(self):
        self.deleted: list[dict] = []

    def delete(self, **kwargs):
        self.deleted.append(kwargs)


def test_a_version_is_deleted_with_the_delete_timeout_and_a_missing_one_is_no_error(monkeypatch):
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_DELETE_TIMEOUT_S", "900")
    indices = _Indices()
    index = ItemsIndex(SimpleNamespace(indices=indices), "items", "", Settings().opensearch.delete_timeout_s)
    index.drop("items-v20261201t000000000000")
    assert indices.deleted == [
        {"index": "items-v20261201t000000000000", "ignore_unavailable": True, "request_timeout": 900.0}
    ]


def test_the_live_version_is_never_deleted_by_a_prune():
    indices = _Indices()
    index = ItemsIndex(SimpleNamespace(indices=indices), "items")
    index.live_version = lambda: "items-v20261202t000000000000"
    with pytest.raises(OpenSearchError, match="alias 'items' points at it"):
        index.delete_version("items-v20261202t000000000000")
    assert indices.deleted == []
