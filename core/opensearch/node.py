"""A local OpenSearch node that the project manages: fetched from Maven Central, run as a dedicated user.

This is for development, the demo and the tests. In production the same CLI points at an existing cluster
through :class:`~core.settings.OpenSearchSettings` and never touches this module.

Layout under ``NodeSettings.home``::

    dist/opensearch-<version>/   the unpacked integ-test zip with the k-NN plugin installed
    data/  logs/                 node data and logs (owned by the run-as user)
    opensearch.pid               pid of the running node
    rerank-config.sha256         digest of the recsearch plugin's node settings the running node was started with

With the project's plugin (``recsearch-rerank``) among the extra plugins, the node is started with its allow-list
(``-Erecsearch.rerank.allowed_urls=...``) and the ranker API key in its keystore (``recsearch.rerank.api_key``);
:func:`project_node_settings` derives both from the rest of the settings (docs/plugin.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import NodeError
from core.settings import NodeSettings, Settings

MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
CORE_ARTIFACT = "org.opensearch.distribution.integ-test-zip:opensearch:{version}:zip"
KNN_ARTIFACT = "org.opensearch.plugin:opensearch-knn:{version}:zip"
#: The project's plugin (plugin/pom.xml) and its node settings (plugin/.../RerankSettings.java).
RERANK_PLUGIN = "recsearch-rerank"
ALLOWED_URLS_SETTING = "recsearch.rerank.allowed_urls"
API_KEY_SETTING = "recsearch.rerank.api_key"


def project_node_settings(settings: Settings) -> NodeSettings:
    """The node settings with what the plugin needs from the rest of the project: unless set, the allow-list is
    the pipeline's ranker URL and the service's own address, and the keystore key is the pipeline's API key."""
    node = settings.node
    update: dict = {}
    if not node.rerank_allowed_urls:
        service_host = settings.service.host
        if service_host in ("0.0.0.0", "::", ""):  # listening everywhere: the node reaches it on loopback
            service_host = "127.0.0.1"
        if ":" in service_host:
            service_host = f"[{service_host}]"
        urls = [settings.pipeline.ranker_url.rstrip("/"), f"http://{service_host}:{settings.service.port}"]
        update["rerank_allowed_urls"] = list(dict.fromkeys(urls))
    if node.rerank_api_key is None and settings.pipeline.api_key is not None:
        update["rerank_api_key"] = settings.pipeline.api_key
    return node.model_copy(update=update) if update else node


@dataclass(frozen=True)
class NodeStatus:
    """What `recadmin opensearch status` reports."""

    running: bool
    pid: int | None
    url: str
    version: str | None = None
    health: str | None = None
    plugins: tuple[str, ...] = ()


class LocalNode:
    """Fetch, install, start, stop and inspect the project's local OpenSearch node."""

    def __init__(self, settings: NodeSettings):
        self.s = settings
        self.home = settings.home.resolve()
        self.dist = self.home / "dist" / f"opensearch-{settings.version}"
        self.data = self.home / "data"
        self.logs = self.home / "logs"
        self.pid_file = self.home / "opensearch.pid"
        self.http_port, self.transport_port = settings.http_port, settings.transport_port
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.cluster_name = "recsearch-local"
        self.rerank_marker = self.home / "rerank-config.sha256"
        self.console_log = self.home / "console.log"
        self.workdir = self.home  # the JVM's relative paths (gc.log, heap dumps under logs/ and data/) start here

    # ---- fetch and install -------------------------------------------------------------------------------

    def fetch(self) -> tuple[Path, Path]:
        """Download the core and k-NN zips with Maven (cached; a second call downloads nothing)."""
        out = self.s.cache_dir.resolve() / "zips"
        core = out / f"opensearch-{self.s.version}.zip"
        knn = out / f"opensearch-knn-{self.s.knn_version}.zip"
        for artifact, target in (
            (CORE_ARTIFACT.format(version=self.s.version), core),
            (KNN_ARTIFACT.format(version=self.s.knn_version), knn),
        ):
            if not target.exists():
                self._maven_copy(artifact, out)
            if not target.exists():
                raise NodeError(f"Maven did not produce {target.name} for {artifact}")
        return core, knn

    def _maven_copy(self, artifact: str, out: Path) -> None:
        if shutil.which("mvn") is None:
            raise NodeError("Maven (mvn) is not installed; it fetches OpenSearch from Maven Central")
        out.mkdir(parents=True, exist_ok=True)
        cmd = [
            "mvn", "-B", "-q", f"-Dmaven.repo.local={self.s.cache_dir.resolve() / 'repo'}",
            f"{MAVEN_DEPENDENCY_PLUGIN}:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={out}",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self._java_env())
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise NodeError(f"Maven could not fetch {artifact}: {' | '.join(tail)}")

    def install(self) -> None:
        """Unpack the node and install k-NN and any extra plugins. Idempotent."""
        core, knn = self.fetch()
        if not (self.dist / "bin" / "opensearch").exists():
            tmp = self.dist.parent / (self.dist.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            with zipfile.ZipFile(core) as z:
                z.extractall(tmp)
            inner = tmp / f"opensearch-{self.s.version}"
            for f in (inner / "bin").iterdir():
                f.chmod(0o755)
            inner.rename(self.dist)
            shutil.rmtree(tmp, ignore_errors=True)
        self._install_plugin("opensearch-knn", knn)
        for extra in self.s.extra_plugins:
            self._install_plugin(_plugin_name(extra), extra.resolve())
        self._write_keystore()
        for d in (self.data, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self._hand_over()

    def _installed_from(self, name: str, zip_path: Path) -> tuple[bool, Path, str]:
        """Whether plugin ``name`` was installed from exactly ``zip_path``'s bytes; with its marker and digest."""
        if not zip_path.exists():
            raise NodeError(f"plugin zip {zip_path} does not exist")
        marker = self.dist / "plugins" / name / ".installed-from"
        digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
        return marker.exists() and marker.read_text() == digest, marker, digest

    def _install_plugin(self, name: str, zip_path: Path) -> None:
        current, marker, digest = self._installed_from(name, zip_path)
        if current:
            return
        if (self.dist / "plugins" / name).exists():
            self._run_tool("opensearch-plugin", "remove", name)
        self._run_tool("opensearch-plugin", "install", "--batch", f"file://{zip_path}")
        marker.write_text(digest)

    def _stale_plugins(self, status: NodeStatus) -> list[str]:
        """Extra plugins the running node does not have as configured: not loaded, or installed from another zip."""
        stale = []
        for extra in self.s.extra_plugins:
            zip_path = extra.resolve()
            if not zip_path.exists():
                raise NodeError(f"plugin zip {zip_path} does not exist")
            name = _plugin_name(zip_path)
            if name not in status.plugins or not self._installed_from(name, zip_path)[0]:
                stale.append(name)
        return stale

    # ---- the recsearch plugin's node settings ------------------------------------------------------------------

    def _has_rerank_plugin(self) -> bool:
        return any(_plugin_name(p.resolve()) == RERANK_PLUGIN for p in self.s.extra_plugins)

    def _rerank_args(self) -> list[str]:
        """The allow-list as a start-up option; only with the plugin (a node refuses settings no plugin declares)."""
        if not self._has_rerank_plugin() or not self.s.rerank_allowed_urls:
            return []
        return [f"-E{ALLOWED_URLS_SETTING}={','.join(self.s.rerank_allowed_urls)}"]

    def _rerank_digest(self) -> str:
        """What the running node must have been started with: the allow-list and (a digest of) the key."""
        key = self.s.rerank_api_key.get_secret_value() if self.s.rerank_api_key else ""
        parts = [*self._rerank_args(), hashlib.sha256(key.encode()).hexdigest() if self._has_rerank_plugin() else ""]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _write_keystore(self) -> None:
        """Put the ranker API key into the node's keystore (or take it out): read at start-up, never in a pipeline."""
        if not self._has_rerank_plugin():
            return
        keystore = self.dist / "config" / "opensearch.keystore"
        if not keystore.exists():
            self._run_tool("opensearch-keystore", "create")
        if self.s.rerank_api_key is not None:
            key = self.s.rerank_api_key.get_secret_value()
            self._run_tool("opensearch-keystore", "add", "--stdin", "--force", API_KEY_SETTING, stdin=key)
        else:
            listed = self._tool_output("opensearch-keystore", "list")
            if API_KEY_SETTING in listed.split():
                self._run_tool("opensearch-keystore", "remove", API_KEY_SETTING)

    def _tool_output(self, tool: str, *args: str) -> str:
        proc = subprocess.run(
            [str(self.dist / "bin" / tool), *args], capture_output=True, text=True, env=self._java_env()
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise NodeError(f"{tool} {' '.join(args)} failed: {' | '.join(tail)}")
        return proc.stdout

    def _run_tool(self, tool: str, *args: str, stdin: str | None = None) -> None:
        proc = subprocess.run(
            [str(self.dist / "bin" / tool), *args], input=stdin, capture_output=True, text=True, env=self._java_env()
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
            raise NodeError(f"{tool} {' '.join(args)} failed: {' | '.join(tail)}")

    # ---- run-as user -----------------------------------------------------------------------------------------

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _hand_over(self, folder: Path | None = None) -> None:
        """OpenSearch refuses to run as root: give the node's folders (``folder``, by default its home) to a
        dedicated system user."""
        if not self._as_root():
            return
        folder = folder or self.home
        try:
            user = pwd.getpwnam(self.s.run_as)
        except KeyError:
            proc = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", self.s.run_as],
                capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode != 0:
                raise NodeError(f"cannot create user {self.s.run_as}: {proc.stderr.strip()}") from None
            user = pwd.getpwnam(self.s.run_as)
        for root, dirs, files in os.walk(folder):
            for name in (*dirs, *files):
                os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)
        os.chown(folder, user.pw_uid, user.pw_gid)
        # The user must be able to reach the folder: grant search (not read) on parents that lack it.
        for parent in folder.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)

    # ---- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> NodeStatus:
        """Start the node and wait for cluster health. A running node is left as it is, unless an extra plugin
        zip changed or is not loaded: then it is stopped, the plugin (re)installed and the node started again."""
        current = self.status()
        if current.running and current.health:
            if self.is_current(current):
                return current
            self.stop()  # plugins and their node settings load only at start-up
        self.check_port_free(current)
        self.install()
        self.launch()
        status = self._wait_healthy()
        self.rerank_marker.write_text(self._rerank_digest())
        return status

    def is_current(self, status: NodeStatus) -> bool:
        """Whether a running node has the configured plugins and the plugin's node settings (else it restarts)."""
        started_with = self.rerank_marker.read_text() if self.rerank_marker.exists() else ""
        return not self._stale_plugins(status) and started_with == self._rerank_digest()

    def check_port_free(self, status: NodeStatus) -> None:
        """Raise when this node's HTTP port is served by a process this project did not start."""
        if status.pid is None and self._http_json("/") is not None:
            raise NodeError(
                f"port {self.http_port} is already served by a process this project did not start; "
                "stop it or set RECSEARCH_NODE_HTTP_PORT"
            )

    def node_args(self) -> list[str]:
        """How the node finds its cluster: alone (a cluster member overrides this)."""
        return ["-Ediscovery.type=single-node"]

    def launch(self) -> None:
        """Start the (installed) node's process, daemonised; returns without waiting for cluster health."""
        self.pid_file.unlink(missing_ok=True)
        cmd = [
            str(self.dist / "bin" / "opensearch"), "-d", "-p", str(self.pid_file),
            *self.node_args(), "-Enetwork.host=127.0.0.1",
            f"-Ehttp.port={self.http_port}", f"-Etransport.port={self.transport_port}",
            f"-Epath.data={self.data}", f"-Epath.logs={self.logs}",
            "-Ecluster.routing.allocation.disk.threshold_enabled=false",
            f"-Ecluster.name={self.cluster_name}",
            *self._rerank_args(),
        ]  # fmt: skip
        if self._as_root():
            cmd = ["runuser", "-u", self.s.run_as, "--", *cmd]
        env = self._java_env() | {"OPENSEARCH_JAVA_OPTS": f"-Xms{self.s.heap} -Xmx{self.s.heap}"} | self._conf_env()
        # The daemonised node inherits our output handles: give it a file, not a pipe we would wait on forever.
        with self.console_log.open("wb") as sink:
            proc = subprocess.run(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        if proc.returncode != 0:
            console = self.console_log.read_text(errors="replace").strip()[-500:]
            raise NodeError(f"OpenSearch did not start: {self._log_tail() or console}")

    def _conf_env(self) -> dict[str, str]:
        """The node's config folder when it is not the installation's own (a cluster member has one each)."""
        return {}

    def _wait_healthy(self) -> NodeStatus:
        deadline = time.monotonic() + self.s.start_timeout_s
        while time.monotonic() < deadline:
            if self.exited():
                raise NodeError(f"OpenSearch exited during start-up: {self._log_tail()}")
            if self.healthy():
                return self.status()
            time.sleep(1)
        raise NodeError(f"OpenSearch was not healthy after {self.s.start_timeout_s:.0f}s: {self._log_tail()}")

    def exited(self) -> bool:
        """Whether a node that was launched has exited (its pid file names a dead process)."""
        return self.pid_file.exists() and self._pid() is None

    def healthy(self, nodes: int = 1) -> bool:
        """Whether the cluster, asked through this node, is yellow or green with ``nodes`` nodes (waits up to 2 s)."""
        health = self._http_json(f"/_cluster/health?wait_for_status=yellow&wait_for_nodes={nodes}&timeout=2s")
        return bool(health) and health.get("status") in ("yellow", "green") and not health.get("timed_out")

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop the node; returns False when none was running. Leaves no process behind."""
        pid = self._pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> NodeStatus:
        """Whether the node runs, with its version, health and plugins."""
        pid = self._pid()
        if pid is None:
            return NodeStatus(running=False, pid=None, url=self.url)
        root = self._http_json("/") or {}
        health = self._http_json("/_cluster/health") or {}
        plugins = self._http_json("/_cat/plugins?format=json") or []
        return NodeStatus(
            running=True,
            pid=pid,
            url=self.url,
            version=(root.get("version") or {}).get("number"),
            health=health.get("status"),
            plugins=tuple(sorted({p["component"] for p in plugins})),
        )

    # ---- helpers -------------------------------------------------------------------------------------------------

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _http_json(self, path: str) -> dict | list | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def _java_env(self) -> dict[str, str]:
        java = str(self.s.java_home)
        if not (self.s.java_home / "bin" / "java").exists():
            raise NodeError(f"no JDK at {java}; set RECSEARCH_NODE_JAVA_HOME (OpenSearch 3.x needs Java 21+)")
        return os.environ | {"JAVA_HOME": java, "OPENSEARCH_JAVA_HOME": java}

    def _log_tail(self, lines: int = 5) -> str:
        log = self.logs / f"{self.cluster_name}.log"
        if not log.exists():
            return ""
        errors = [ln for ln in log.read_text(errors="replace").splitlines() if "ERROR" in ln or "Exception" in ln]
        return " | ".join(errors[-lines:])[-1500:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); read its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def _plugin_name(zip_path: Path) -> str:
    with zipfile.ZipFile(zip_path) as z:
        text = z.read("plugin-descriptor.properties").decode()
    for line in text.splitlines():
        if line.strip().startswith("name="):
            return line.split("=", 1)[1].strip()
    raise NodeError(f"{zip_path} has no name in plugin-descriptor.properties")
