"""The sequence model's learned item vectors in the real index: written when a version becomes active, queried by
OpenSearch k-NN (inner product) as the service's candidate pool does, written again after the catalog changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.settings import RankerSettings, SequenceSettings
from core.store import open_store
from indexer import api
from indexer.api import items_index
from indexer.learned import BEHAVIOUR_FIELD, learned_model
from ranker.feedback.frames import events_frame_from_file
from ranker.feedback.profiles import Interaction
from ranker.model import ExactNeighbours, Scorer, publish_active, registry
from ranker.model.item_vectors import ItemVectors
from ranker.service.deps import ServiceDeps
from ranker.service.index_client import ServiceIndex
from ranker.training.api import train_and_register
from ranker.training.options import TrainOptions
from tests.paths import DATA

pytestmark = pytest.mark.integration

SMALL = dict(attention_dim=16, hidden_dim=16, batch_size=64, negatives=8, in_batch_negatives=16,
             validation_examples=300, epochs=1, device="cpu")  # fmt: skip
SEQUENCE = SequenceSettings(dim=16, layers=1, max_length=20, epochs=2, validation_examples=300, batch_size=64)


@pytest.fixture(scope="module")
def retail_slice(tmp_path_factory):
    """Every sales line of the 200 most sold stock codes in the first three months (real data)."""
    frame = pd.read_parquet(DATA)
    top = frame["StockCode"].value_counts().index[:200]
    keep = frame["StockCode"].isin(top) & (frame["InvoiceDate"] < "2011-03-01")
    path = tmp_path_factory.mktemp("retail") / "slice.parquet"
    frame[keep].to_parquet(path)
    return path


def _history(path, rank: int = 0) -> list[Interaction]:
    events = events_frame_from_file(path)
    user = events["user_id"].value_counts().index[rank]
    mine = events[events["user_id"] == user].sort_values("ts", ascending=False)
    return [Interaction(r.item_id, r.type, r.ts.to_pydatetime()) for r in mine.head(30).itertuples()]


def test_an_activated_version_serves_its_learned_vectors_from_opensearch(settings, fake_embedder, retail_slice):
    api.build_from_catalog(settings, retail_slice, embedder=fake_embedder)
    options = TrainOptions.from_settings(RankerSettings(), SEQUENCE, seed=3, **SMALL)
    run = train_and_register(settings, events_file=retail_slice, options=options)
    items = ItemVectors.from_index(settings)
    assert run.registered.active and run.publish_error is None
    assert run.published is not None and run.published.items == len(items) and run.published.model == "v1"
    index = items_index(settings)
    assert learned_model(index) == "v1"
    live = index.require_live()
    field = index.client.indices.get_mapping(index=live)[live]["mappings"]["properties"][BEHAVIOUR_FIELD]
    assert field["dimension"] == SEQUENCE.dim and field["method"]["space_type"] == "innerproduct"

    # The service's pool asks OpenSearch for the nearest items to the user's vector: the exact nearest ones.
    scorer = Scorer(registry.load_active(open_store(settings.store)), items)
    deps = ServiceDeps(settings, ranker=scorer, vectors=items)
    history = _history(retail_slice)
    user = scorer.user_vector(history)
    assert user is not None
    learned = deps.learned_search(scorer)
    assert learned is not None
    bought = {h.item_id for h in history[:5]}
    found = learned.knn_ids(user.tolist(), 10, bought)
    exact = ExactNeighbours(scorer.behaviour).knn_ids(user.tolist(), 10, bought)
    assert not bought & set(found)
    assert len(set(found) & set(exact)) >= 9  # HNSW approximates the exact inner-product top 10
    # ... and the served recommendations differ from the text k-NN's pool: the learned space adds its own.
    text = ServiceIndex(settings).knn_ids(items.get([history[0].item_id])[0][0].tolist(), 10, bought)
    assert set(found) != set(text)


def test_a_new_catalog_version_gets_the_active_versions_vectors_again(settings, fake_embedder, retail_slice):
    api.build_from_catalog(settings, retail_slice, embedder=fake_embedder)
    options = TrainOptions.from_settings(RankerSettings(), SEQUENCE, seed=4, **SMALL)
    train_and_register(settings, events_file=retail_slice, options=options)
    index = items_index(settings)
    before = index.require_live()
    api.build_from_catalog(settings, retail_slice, embedder=fake_embedder, force=True)
    assert index.require_live() != before and learned_model(index) is None  # a new version holds none
    scorer = Scorer(registry.load_active(open_store(settings.store)), ItemVectors.from_index(settings))
    assert ServiceDeps(settings, ranker=scorer).learned_search(scorer) is None  # the pool keeps to the text k-NN
    done = publish_active(settings)
    assert done is not None and done.index == index.require_live() and learned_model(index) == "v1"
    vectors = index.client.search(index=done.index, body={"size": 1, "query": {"exists": {"field": BEHAVIOUR_FIELD}}})
    assert vectors["hits"]["total"]["value"] == done.items
    assert np.isfinite(scorer.user_vector(_history(retail_slice, 1))).all()
