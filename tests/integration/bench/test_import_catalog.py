"""bench/bench_import_catalog.py on the real node, at a size that runs in seconds."""

from __future__ import annotations

import pytest

from bench.bench_import_catalog import run_size
from core.opensearch.client import make_client

pytestmark = pytest.mark.integration


def test_one_size_imports_the_same_events_checked_and_unchecked(settings, tmp_path):
    row = run_size(300, 3000, 50, tmp_path, opensearch=settings.opensearch)
    assert row["events_added"] == 3000  # checked and unchecked stored the same events (the bench asserts it too)
    assert row["not_in_catalog"] == 0  # every event names a catalog item: the lookups found them all
    assert row["checked_s"] > 0 and row["unchecked_s"] > 0 and row["read_all_ids_s"] > 0
    assert not make_client(settings.opensearch).indices.exists(index="bench-catalog-300-v1")  # cleaned up
