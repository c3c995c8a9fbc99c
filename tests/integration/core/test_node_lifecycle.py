"""`recadmin opensearch start|stop|status` on a second node of its own (ports 9210/9310), so the session's node
keeps serving the other tests."""

from __future__ import annotations

import os

import pytest

from core.opensearch.node import LocalNode, _alive

pytestmark = [pytest.mark.integration, pytest.mark.own_node]


def test_start_is_idempotent_and_stop_leaves_no_process(node_settings, tmp_path, opensearch_node):
    if os.geteuid() == 0:
        tmp_path.chmod(0o755)
    node = LocalNode(
        node_settings.model_copy(update={"home": tmp_path / "node", "http_port": 9210, "transport_port": 9310})
    )
    assert node.status().running is False
    first = node.start()
    try:
        assert first.running and first.health in ("green", "yellow")
        assert first.version == node_settings.version
        assert "opensearch-knn" in first.plugins
        again = node.start()  # already running: nothing new is started
        assert again.pid == first.pid
    finally:
        assert node.stop() is True
    assert not _alive(first.pid)
    assert node.status().running is False
    assert node.stop() is False  # stopping a stopped node is fine
