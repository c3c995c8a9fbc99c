"""`recadmin serve` as a real process: an open service (no API keys) is refused on a public interface."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests.builders.service_stack import free_port
from tests.paths import ROOT


def _serve(tmp_path, *args: str, **env: str) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RECSEARCH_SERVICE_")}
    clean.update(PYTHONPATH=str(ROOT), RECSEARCH_STATE_DIR=str(tmp_path), HF_HUB_OFFLINE="1",
                 RECSEARCH_OPENSEARCH_URL=f"http://127.0.0.1:{free_port()}", **env)  # fmt: skip
    code = "import sys; from cli.main import run; sys.exit(run(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, "serve", *args], cwd=tmp_path, env=clean,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_a_public_bind_without_keys_is_refused_in_one_line(tmp_path):
    done = _serve(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))
    out, err = done.communicate(timeout=120)
    assert done.returncode == 1, (out, err)
    assert err.strip().splitlines() == [
        "error: refusing to listen on 0.0.0.0 without API keys: anyone who reaches it could read and delete user "
        "data; set RECSEARCH_SERVICE_READ_API_KEYS / _PERSONAL_API_KEYS / _WRITE_API_KEYS, or pass --insecure"
    ]


def test_a_blank_key_variable_stops_the_start(tmp_path):
    done = _serve(tmp_path, "--port", str(free_port()), RECSEARCH_SERVICE_WRITE_API_KEYS=" , ")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 1 and "Traceback" not in err
    assert err.strip().startswith("error: bad RECSEARCH_SERVICE_WRITE_API_KEYS: ") and "holds no key" in err


def test_a_keyed_public_bind_starts_and_says_auth_is_on(tmp_path):
    port = free_port()
    server = _serve(tmp_path, "--host", "0.0.0.0", "--port", str(port), RECSEARCH_SERVICE_READ_API_KEYS="k1")
    try:
        for _ in range(600):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None:
                    break
                time.sleep(0.2)
        assert server.poll() is None, server.communicate()
        assert r.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/v1/storefront/users", timeout=5).status_code == 401
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert "auth: on (1 read, 0 personal, 0 write keys)" in err
