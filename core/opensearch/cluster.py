"""A local multi-node OpenSearch cluster: n processes on this machine sharing one installation.

For development and the tests of what a shop's cluster does when a node goes away (replicas, fail-over). One
fetched distribution with its plugins and keystore (:class:`~core.opensearch.node.LocalNode` installs it under
``NodeSettings.home``); each member has its own config, data and logs folders and its own ports::

    <root>/node-<i>/config/   a copy of the installation's config (opensearch.yml, jvm.options, the keystore)
    <root>/node-<i>/data/  logs/  opensearch.pid  rerank-config.sha256  console.log

Member ``i`` listens on ``http_port + i`` (HTTP) and ``transport_port + i`` (transport); every member is
cluster-manager eligible, finds the others through ``discovery.seed_hosts`` and the first start bootstraps the
cluster from ``cluster.initial_cluster_manager_nodes``. Three members keep a cluster manager (a majority) with one
of them stopped.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from core.errors import NodeError
from core.opensearch.node import LocalNode, NodeStatus
from core.settings import NodeSettings

CLUSTER_NAME = "recsearch-cluster"


class ClusterMember(LocalNode):
    """One node of a :class:`LocalCluster`: the shared installation, its own folder and ports."""

    def __init__(self, settings: NodeSettings, index: int, folder: Path, size: int):
        super().__init__(settings)  # home, dist: the shared installation
        self.index, self.size = index, size
        self.folder = folder.resolve()
        self.name = f"node-{index}"
        self.config = self.folder / "config"
        self.data, self.logs = self.folder / "data", self.folder / "logs"
        self.pid_file = self.folder / "opensearch.pid"
        self.rerank_marker = self.folder / "rerank-config.sha256"
        self.console_log = self.folder / "console.log"
        self.workdir = self.folder
        self.http_port, self.transport_port = settings.http_port + index, settings.transport_port + index
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.cluster_name = CLUSTER_NAME

    def node_args(self) -> list[str]:
        seeds = ",".join(f"127.0.0.1:{self.s.transport_port + i}" for i in range(self.size))
        managers = ",".join(f"node-{i}" for i in range(self.size))
        return [
            f"-Enode.name={self.name}",
            f"-Ediscovery.seed_hosts={seeds}",
            f"-Ecluster.initial_cluster_manager_nodes={managers}",
        ]

    def _conf_env(self) -> dict[str, str]:
        return {"OPENSEARCH_PATH_CONF": str(self.config)}

    def install(self) -> None:
        """Give the member a fresh copy of the installation's config (the keystore with the current key in it)."""
        self.config.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.dist / "config", self.config, dirs_exist_ok=True)
        for d in (self.data, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.folder)


class LocalCluster:
    """Start, inspect and stop ``size`` local nodes forming one cluster; stop one of them by index."""

    def __init__(self, settings: NodeSettings, size: int, root: Path | None = None):
        if size < 2:
            raise NodeError(f"a local cluster needs at least 2 nodes (got {size}); one node is `LocalNode`")
        self.s = settings
        self.size = size
        self.root = (root or settings.home / "cluster").resolve()
        self.installer = LocalNode(settings)
        self.members = [ClusterMember(settings, i, self.root / f"node-{i}", size) for i in range(size)]

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    @property
    def url(self) -> str:
        """Every member's URL, comma-separated: the value of RECSEARCH_OPENSEARCH_URL for this cluster."""
        return ",".join(self.urls)

    def start(self) -> list[NodeStatus]:
        """Install once, start every member that is not running and wait until the cluster has all of them,
        yellow or green. Running members are left as they are, unless a plugin or the plugin's node settings
        changed: then every member is stopped and started again (plugins load only at start-up)."""
        current = [m.status() for m in self.members]
        pairs = list(zip(self.members, current, strict=True))
        running = all(st.running for st in current) and self.members[0].healthy(self.size)
        if running and all(m.is_current(st) for m, st in pairs):
            return current
        # A member that cannot answer health (no cluster manager yet) is not judged stale: it joins as it is.
        if any(st.running and st.health and not m.is_current(st) for m, st in pairs):
            self.stop()
            pairs = [(m, m.status()) for m in self.members]
        for m, st in pairs:
            m.check_port_free(st)
        self.installer.install()
        for m, st in pairs:
            if not st.running:
                m.install()
                m.launch()
        self.wait_for(self.size)
        for m in self.members:
            m.rerank_marker.write_text(m._rerank_digest())
        return self.status()

    def wait_for(self, nodes: int) -> None:
        """Wait until the running members see a cluster of ``nodes`` nodes, yellow or green."""
        deadline = time.monotonic() + self.s.start_timeout_s
        while time.monotonic() < deadline:
            exited = [m for m in self.members if m.exited()]
            if exited:
                raise NodeError(f"OpenSearch {exited[0].name} exited during start-up: {exited[0]._log_tail()}")
            running = [m for m in self.members if m._pid() is not None]
            if running and running[0].healthy(nodes):
                return
            time.sleep(1)
        tail = " | ".join(t for t in (m._log_tail(2) for m in self.members) if t)
        raise NodeError(f"the local cluster did not reach {nodes} nodes in {self.s.start_timeout_s:.0f}s: {tail}")

    def stop_node(self, index: int) -> bool:
        """Stop one member (as a crash or a restart would) and, while a majority of the members still runs, wait
        until they form a cluster without it (fewer cannot elect a cluster manager: then it returns at once);
        returns False when it was not running."""
        if not 0 <= index < self.size:
            raise NodeError(f"no node {index} in a cluster of {self.size} (0..{self.size - 1})")
        stopped = self.members[index].stop()
        running = sum(m._pid() is not None for m in self.members)
        if stopped and running > self.size // 2:
            self.wait_for(running)
        return stopped

    def stop(self) -> int:
        """Stop every member; returns how many were running. Leaves no process behind."""
        return sum(m.stop() for m in self.members)

    def status(self) -> list[NodeStatus]:
        """Each member's status (running, pid, URL, version, the cluster's health as it sees it, plugins)."""
        return [m.status() for m in self.members]
