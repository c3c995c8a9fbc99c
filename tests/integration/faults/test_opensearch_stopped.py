"""Fault injection: the OpenSearch node stops in the middle of an index build, and under the running service.

On a node of its own (ports 9233/9333), stopped and started by the test: the session's node keeps serving the other
tests. What a shop must see: the build fails with one clear error and the alias stays on the version that was
live; once the node is back the same command resumes the half-built version and moves the alias only when every
item is in; while the node is down the service answers searches with a 503 that says to retry, ranks hits it is
sent from memory, and stays alive."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.errors import OpenSearchError
from core.opensearch.client import make_client
from core.opensearch.node import LocalNode
from core.settings import OpenSearchSettings, ServiceSettings, Settings, StoreSettings
from indexer import api, build
from tests.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.own_node]

PORT, TRANSPORT = 9233, 9333


@pytest.fixture
def own_node(node_settings):
    """A node of its own under .state/ (pytest's tmp folders can be rotated away under a running node)."""
    home = Path(tempfile.mkdtemp(prefix="test-faults-node-", dir=ROOT / ".state"))
    if os.geteuid() == 0:
        home.chmod(0o755)
    node = LocalNode(node_settings.model_copy(update={
        "home": home / "node", "http_port": PORT, "transport_port": TRANSPORT, "start_timeout_s": 420.0,
    }))  # fmt: skip
    status = node.start()
    assert status.running, status
    yield node
    node.stop()
    shutil.rmtree(home, ignore_errors=True)


def _catalog(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": str(i), "title": f"item number {i}", "price": 1.5}) + "\n"
                            for i in range(n)))  # fmt: skip
    return path


def _count(settings: Settings) -> int:
    return make_client(settings.opensearch).count(index=settings.opensearch.index_alias)["count"]


class StopsTheNode:
    """An embedder that stops the node once ``after`` texts are embedded: the build's next bulk write meets a
    node that is gone, as when a node is restarted or crashes mid-build."""

    def __init__(self, inner, node: LocalNode, after: int):
        self.inner, self.node, self.after, self.texts = inner, node, after, 0
        self.name, self.dimension = inner.name, inner.dimension

    def encode(self, texts, batch_size=None):
        if self.texts >= self.after and self.node.status().running:
            assert self.node.stop()
        self.texts += len(texts)
        return self.inner.encode(texts)


def test_node_stopped_mid_build_keeps_the_live_version_and_the_rerun_resumes(
    own_node, fake_embedder, tmp_path, monkeypatch
):
    monkeypatch.setattr(build, "EMBED_CHUNK", 10)
    settings = Settings(
        opensearch=OpenSearchSettings(
            url=own_node.url, index_alias="faults", bulk_chunk_size=10, timeout_s=120, max_retries=0
        ),
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        state_dir=tmp_path / "state",
        service=ServiceSettings(allowed_hosts="testserver"),  # TestClient's Host
    )
    first = api.build_from_catalog(settings, _catalog(tmp_path / "v1.jsonl", 20), embedder=fake_embedder).result
    bigger = _catalog(tmp_path / "v2.jsonl", 60)

    with pytest.raises(OpenSearchError) as failed:
        api.build_from_catalog(settings, bigger, embedder=StopsTheNode(fake_embedder, own_node, after=30))
    assert "\n" not in str(failed.value) and "Traceback" not in str(failed.value)

    # The service over the stopped node: searches get a retryable 503, hits sent to it are still ranked, it lives.
    from ranker.service import create_app

    with TestClient(create_app(settings)) as http:
        down = http.post("/v1/search", json={"query": "item", "k": 5})
        assert down.status_code == 503 and int(down.headers["retry-after"]) > 0, down.text
        assert down.json()["error"] and f":{PORT}" not in down.text  # a reason, never the cluster's address
        ranked = http.post("/v1/rerank", json={"user_id": "nobody", "hits": [{"id": "1", "score": 2.0}]})
        assert ranked.status_code == 200 and [r["id"] for r in ranked.json()["results"]] == ["1"]
        assert http.get("/healthz").status_code == 200

    assert own_node.start().running
    assert _count(settings) == 20  # the alias never moved to the half-built version
    versions = api.index_versions(settings)
    live = [v for v in versions if v.live]
    assert [v.name for v in live] == [first.index]
    assert [v.meta["build_state"] for v in versions if not v.live] == ["building"]

    done = api.build_from_catalog(settings, bigger, embedder=fake_embedder).result
    assert done.resumed and done.indexed == 60 and done.skipped >= 10
    assert _count(settings) == 60
    assert sorted(int(h.id) for h in api.search(settings, "item", k=100, embedder=fake_embedder, mode="bm25")) == \
        list(range(60))  # fmt: skip
