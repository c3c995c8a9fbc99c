"""`LocalNode.start` on a running node notices an extra plugin that is missing or was rebuilt, and restarts the
node with it (plugins load only at start-up). On a node of its own (ports 9230/9330): the session's node keeps
serving the other tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest

from core.opensearch.node import LocalNode, _alive
from tests.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.own_node]

PLUGIN = "recsearch-rerank"


def _rebuilt(zip_path, target):
    """The same plugin with another description: a different zip, as after a code change."""
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(target, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "plugin-descriptor.properties":
                data = data.replace(b"description=", b"description=(rebuilt) ")
            out.writestr(item, data)
    return target


@pytest.fixture
def node_home():
    """A folder under .state/, not pytest's tmp_path: concurrent pytest sessions rotate (delete) old tmp folders,
    which would pull the files from under a node that runs for minutes."""
    home = Path(tempfile.mkdtemp(prefix="test-node-restart-", dir=ROOT / ".state"))
    if os.geteuid() == 0:
        home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_start_restarts_a_running_node_for_a_missing_or_changed_plugin(node_settings, node_home):
    tmp_path = node_home
    ours = [p for p in node_settings.extra_plugins if p.name.startswith(PLUGIN)]
    assert ours, "the test session builds the plugin (tests/conftest.py)"
    # A generous start timeout: this test starts three nodes in a row on a shared, busy machine.
    base = node_settings.model_copy(
        update={"home": tmp_path / "node", "http_port": 9230, "transport_port": 9330, "start_timeout_s": 420.0}
    )
    bare = LocalNode(base.model_copy(update={"extra_plugins": []}))
    first = bare.start()
    pids = [first.pid]
    try:
        assert PLUGIN not in first.plugins
        with_plugin = LocalNode(base.model_copy(update={"extra_plugins": ours}))
        second = with_plugin.start()  # running, but the plugin is missing: restarted with it
        pids.append(second.pid)
        assert second.pid != first.pid and not _alive(first.pid)
        assert PLUGIN in second.plugins
        assert with_plugin.start().pid == second.pid  # nothing changed: left as it is
        changed = LocalNode(base.model_copy(update={"extra_plugins": [_rebuilt(ours[0], tmp_path / f"{PLUGIN}-x.zip")]}))
        third = changed.start()  # the zip changed: reinstalled and restarted
        pids.append(third.pid)
        assert third.pid != second.pid and PLUGIN in third.plugins
        marker = changed.dist / "plugins" / PLUGIN / ".installed-from"
        assert marker.read_text() == hashlib.sha256((tmp_path / f"{PLUGIN}-x.zip").read_bytes()).hexdigest()
    finally:
        bare.stop()
    assert not any(_alive(p) for p in pids)
