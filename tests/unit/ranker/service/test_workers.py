"""Several workers (`recadmin serve --workers N`): the option and setting, what reaches the workers, the store check,
and a worker that follows its supervisor's end. The workers serving for real: tests/integration/cli/test_workers.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from core.errors import ConfigError
from core.settings import ServiceSettings, Settings, StoreSettings, get_settings
from ranker.service import run_served, serving
from ranker.service import workers as workers_mod
from tests.paths import ROOT

PG = "postgresql+psycopg://u:p@127.0.0.1:5432/shop"


def _settings(tmp_path, url: str = PG, **service) -> Settings:
    return Settings(store=StoreSettings(url=url), state_dir=tmp_path, service=ServiceSettings(**service))


def test_one_worker_is_the_default_and_passes_nothing_on(tmp_path):
    served = serving(_settings(tmp_path))
    assert (served.workers, served.environment) == (1, {})
    assert not any("worker" in line for line in served.notes + served.warnings)


def test_workers_from_the_option_reach_the_workers_with_host_and_port(tmp_path):
    served = serving(_settings(tmp_path), host="127.0.0.1", port=8022, workers=2)
    assert served.workers == 2
    assert served.environment == {"RECSEARCH_SERVICE_HOST": "127.0.0.1", "RECSEARCH_SERVICE_PORT": "8022",
                                  "RECSEARCH_SERVICE_WORKERS": "2"}  # fmt: skip
    assert not any("SQLite" in w for w in served.warnings)
    assert any(line.startswith("2 worker processes;") and "every 30 s" in line for line in served.notes)


def test_the_setting_gives_the_workers_and_the_option_overrides_it(tmp_path):
    settings = _settings(tmp_path, workers=3, model_check_s=5)
    served = serving(settings)
    assert served.workers == 3 and served.environment["RECSEARCH_SERVICE_WORKERS"] == "3"
    assert any("every 5 s" in line for line in served.notes)
    assert serving(settings, workers=1).workers == 1


def test_the_environment_variable_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("RECSEARCH_SERVICE_WORKERS", "4")
    assert Settings().service.workers == 4
    monkeypatch.setenv("RECSEARCH_SERVICE_WORKERS", "0")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="^bad RECSEARCH_SERVICE_WORKERS: "):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_a_public_bind_without_keys_is_refused_before_any_worker(tmp_path):
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without API keys"):
        serving(_settings(tmp_path), host="0.0.0.0", workers=2)
    assert (
        serving(_settings(tmp_path), host="0.0.0.0", workers=2, insecure=True).environment["RECSEARCH_SERVICE_HOST"]
        == "0.0.0.0"
    )


def test_the_supervisor_of_several_workers_loads_no_model_code(tmp_path):
    """The parent of N workers holds only what it needs to supervise: not torch (about 800 MB of RSS here)."""
    code = (
        "import sys; from core.settings import Settings, StoreSettings; from ranker.service import serving; "
        f"s = serving(Settings(store=StoreSettings(url={PG!r})), workers=2); "
        "print(s.app, sorted(m for m in ('torch', 'ranker.model', 'ranker.service.app') if m in sys.modules))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), RECSEARCH_STATE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.split() == ["None", "[]"], done.stderr


def test_a_sqlite_file_is_allowed_with_a_warning_and_an_in_memory_store_refused(tmp_path):
    served = serving(_settings(tmp_path, url=f"sqlite:///{tmp_path / 'store.db'}"), workers=2)
    assert any(w.startswith("2 workers share a SQLite store") and "PostgreSQL" in w for w in served.warnings)
    assert not any("SQLite" in w for w in serving(_settings(tmp_path, url=f"sqlite:///{tmp_path / 's.db'}")).warnings)
    for url in ("sqlite:///:memory:", "sqlite://"):
        with pytest.raises(ConfigError, match="in-memory SQLite store"):
            serving(_settings(tmp_path, url=url), workers=2)


def test_several_workers_run_uvicorn_on_the_import_string_with_the_overrides_in_the_environment(tmp_path, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    for name in ("RECSEARCH_SERVICE_HOST", "RECSEARCH_SERVICE_PORT", "RECSEARCH_SERVICE_WORKERS"):
        monkeypatch.delenv(name, raising=False)  # monkeypatch puts back what run_served writes
    one = serving(_settings(tmp_path), port=8022)
    run_served(one, log_level="warning")
    assert calls[-1][0] is one.app and "workers" not in calls[-1][1]
    run_served(serving(_settings(tmp_path), port=8022, workers=2), log_level="warning")
    app, kw = calls[-1]
    assert app == "ranker.service.workers:worker_app"
    assert kw == {"factory": True, "workers": 2, "host": "127.0.0.1", "port": 8022, "log_level": "warning",
                  "access_log": False, "timeout_worker_healthcheck": workers_mod.HEALTHCHECK_S}  # fmt: skip
    assert (os.environ["RECSEARCH_SERVICE_PORT"], os.environ["RECSEARCH_SERVICE_WORKERS"]) == ("8022", "2")


def test_a_worker_builds_its_app_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(workers_mod, "_end_with_parent", lambda: None)  # not for the test process itself
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RECSEARCH_SERVICE_HOST", "10.1.2.3")
    monkeypatch.setenv("RECSEARCH_SERVICE_MODEL_CHECK_S", "2.5")
    get_settings.cache_clear()
    try:
        app = workers_mod.worker_app()
    finally:
        get_settings.cache_clear()
    assert app.state.settings.service.host == "10.1.2.3"
    assert app.state.deps._model_check_s == 2.5


#: A supervisor stand-in: starts a child that calls _end_with_parent, says so and sleeps; then prints its pid.
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "from ranker.service.workers import _end_with_parent; "
    "_end_with_parent(); print('armed', flush=True); import time; time.sleep(60)"], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "armed"
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_ends_when_its_supervisor_is_killed():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, env=env)
    child = int(parent.stdout.readline())  # once the child has asked for the signal
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the worker outlived its killed supervisor"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by init) counts as ended.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
