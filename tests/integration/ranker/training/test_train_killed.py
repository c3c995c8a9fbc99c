"""`kill -9` of a real `recadmin train` process (issue 14's fault list): the registry never points at a
half-written checkpoint, and running it again completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from core.store import open_store
from indexer import api
from ranker.model import registry
from ranker.model.checkpoint import load_checkpoint
from tests.builders.shop import clustered_shop
from tests.paths import ROOT

pytestmark = pytest.mark.integration


def recadmin_train(settings, epochs: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RECSEARCH_OPENSEARCH_URL": settings.opensearch.url,
        "RECSEARCH_OPENSEARCH_INDEX_ALIAS": settings.opensearch.index_alias,
        "RECSEARCH_STORE_URL": settings.store.url,
        "RECSEARCH_STATE_DIR": str(settings.state_dir),
        "RECSEARCH_RANKER_EPOCHS": str(epochs),
        "RECSEARCH_RANKER_PATIENCE": str(epochs),
        "RECSEARCH_RANKER_ATTENTION_DIM": "8",
        "RECSEARCH_RANKER_HIDDEN_DIM": "8",
        "RECSEARCH_RANKER_VALIDATION_EXAMPLES": "50",
        "RECSEARCH_RANKER_DEVICE": "cpu",
        "RECSEARCH_SEQUENCE_ENABLED": "false",
        "COLUMNS": "200",
    }
    events = settings.state_dir / "events.csv"
    return subprocess.Popen(
        [sys.executable, "-c", "from cli.main import main; main()", "train", "--events", str(events), "--activate"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_a_training_killed_mid_run_registers_nothing_and_a_rerun_completes(settings, fake_embedder, tmp_path):
    events, items = clustered_shop(users=40, per_cluster=8, baskets=6)
    catalog = tmp_path / "items.jsonl"
    catalog.write_text("".join(json.dumps({"id": i, "title": i.replace("-", " item ")}) + "\n" for i in items.ids))
    api.build_from_catalog(settings, catalog, embedder=fake_embedder)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    events[["user_id", "item_id", "type", "ts"]].to_csv(settings.state_dir / "events.csv", index=False)
    engine = open_store(settings.store)

    proc = recadmin_train(settings, epochs=1000)  # far more epochs than it can finish: it is killed in the middle
    seen = []
    for line in proc.stdout:  # killed as soon as training has started its epochs
        seen.append(line)
        if "epoch 1:" in line:
            proc.send_signal(signal.SIGKILL)
            break
    assert proc.wait(timeout=60) == -signal.SIGKILL, "".join(seen)
    assert registry.list_versions(engine) == [] and registry.active_version(engine) is None
    models = settings.state_dir / "models"
    assert not models.exists() or not list(models.glob("ranker-*.pt"))

    again = recadmin_train(settings, epochs=1)
    out = again.communicate(timeout=600)[0]
    assert again.returncode == 0, out
    assert "registered ranker v1 (active)" in out
    active = registry.verify_checkpoint(engine, "v1")  # the file is the one registered, whole
    assert active.active and load_checkpoint(active.path).version == "v1"
    assert sorted(p.name for p in models.iterdir()) == ["ranker-v1.pt"]  # no temporary file left behind
