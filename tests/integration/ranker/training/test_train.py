"""Training the ranker on a small real slice of Online Retail against the real node, registering versions, and
scoring a real customer with the registered model."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cli.main import run
from core.settings import RankerSettings, get_settings
from core.store import open_store
from indexer import api
from indexer.api import items_index
from indexer.learned import learned_model
from ranker.feedback.frames import events_frame_from_file
from ranker.feedback.profiles import Interaction
from ranker.model import registry
from ranker.model.item_vectors import ItemVectors
from ranker.model.scoring import Candidate, Scorer
from ranker.training.api import train_and_register
from ranker.training.options import TrainOptions
from tests.paths import DATA

pytestmark = pytest.mark.integration

SMALL = dict(attention_dim=16, hidden_dim=16, batch_size=64, negatives=8, in_batch_negatives=16,
             validation_examples=300, epochs=2, device="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def retail_slice(tmp_path_factory):
    """Every sales line of the 150 most sold stock codes in the first four months plus the last two (real data)."""
    frame = pd.read_parquet(DATA)
    top = frame["StockCode"].value_counts().index[:150]
    dates = frame["InvoiceDate"]
    keep = frame["StockCode"].isin(top) & ((dates < "2011-03-01") | (dates >= "2011-10-15"))
    path = tmp_path_factory.mktemp("retail") / "slice.parquet"
    frame[keep].to_parquet(path)
    return path


def test_train_register_and_score_a_real_customer(settings, fake_embedder, retail_slice):
    api.build_from_catalog(settings, retail_slice, embedder=fake_embedder)
    items = ItemVectors.from_index(settings)
    assert len(items) >= 140 and items.dim == fake_embedder.dimension  # any embedding dimension
    first = train_and_register(
        settings, events_file=retail_slice, options=TrainOptions.from_settings(RankerSettings(), seed=3, **SMALL)
    )
    reg = first.registered
    assert reg.version == "v1" and reg.active  # the first version becomes active
    for key in ("val_ndcg@10", "val_hr@10", "val_mrr", "val_popularity_ndcg@10", "val_random_hr@10", "train_loss"):
        assert math.isfinite(reg.metrics[key]), key
    assert reg.metrics["val_hr@10"] > reg.metrics["val_random_hr@10"]
    assert reg.path.is_file() and reg.path.parent == settings.state_dir / "models"

    ranker = Scorer(registry.load_active(open_store(settings.store)), items)
    assert ranker.version == "v1"
    events = events_frame_from_file(retail_slice)
    user = events["user_id"].value_counts().index[0]
    mine = events[events["user_id"] == user].sort_values("ts", ascending=False)
    history = [Interaction(r.item_id, r.type, r.ts.to_pydatetime()) for r in mine.head(50).itertuples()]
    candidates = [Candidate(i, 1.0 - n / 100) for n, i in enumerate(items.ids[:100])]
    results = ranker.score(history, candidates)
    assert sorted(r.id for r in results) == sorted(items.ids[:100])
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    bought = {h.item_id for h in history}
    assert all(e.item_id in bought and e.type == "purchase" for r in results for e in r.explanations)
    assert all(len(r.explanations) == 3 for r in results)


def test_recadmin_train_registers_a_second_version_without_activating_it(settings, fake_embedder, retail_slice,
                                                                          monkeypatch, capsys):  # fmt: skip
    api.build_from_catalog(settings, retail_slice, embedder=fake_embedder)
    train_and_register(
        settings,
        events_file=retail_slice,
        options=TrainOptions.from_settings(RankerSettings(), seed=3, **{**SMALL, "epochs": 1}),
    )
    env = {
        "RECSEARCH_OPENSEARCH_URL": settings.opensearch.url,
        "RECSEARCH_OPENSEARCH_INDEX_ALIAS": settings.opensearch.index_alias,
        "RECSEARCH_STORE_URL": settings.store.url,
        "RECSEARCH_STATE_DIR": str(settings.state_dir),
        "RECSEARCH_RANKER_EPOCHS": "1",
        "RECSEARCH_RANKER_ATTENTION_DIM": "16",
        "RECSEARCH_RANKER_HIDDEN_DIM": "16",
        "RECSEARCH_RANKER_VALIDATION_EXAMPLES": "200",
        "RECSEARCH_RANKER_DEVICE": "cpu",
        "RECSEARCH_SEQUENCE_EPOCHS": "1",
        "RECSEARCH_SEQUENCE_DIM": "16",
        "RECSEARCH_SEQUENCE_VALIDATION_EXAMPLES": "200",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        assert run(["train", "--events", str(retail_slice), "--seed", "5"]) == 0
        out = capsys.readouterr().out
        assert "registered ranker v2 (not active)" in out and "ndcg@10" in out
        versions = registry.list_versions(open_store(settings.store))
        assert [(v.version, v.active) for v in versions] == [("v1", True), ("v2", False)]
        assert versions[1].info["options"]["seed"] == 5
        assert run(["models", "activate", "v2"]) == 0
        assert registry.active_version(open_store(settings.store)).version == "v2"
        # Activation writes the version's learned item vectors into the live index, where the service finds them.
        assert "wrote the learned vectors of ranker v2" in capsys.readouterr().out
        assert learned_model(items_index(settings)) == "v2"
    finally:
        get_settings.cache_clear()
