"""The evaluation measures exactly what the service serves: for the same user, model and moment, `recadmin
evaluate`'s attention ranker and GET /v1/recommend return the same items in the same order (one candidate pool,
one scorer, the same profile), on the real node with a really trained model: its sequence model's candidates come
from OpenSearch k-NN on the published learned vectors in the service, from the exact in-memory search in the
evaluation."""

from __future__ import annotations

from datetime import UTC

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.opensearch.client import make_client
from core.settings import RankerSettings, SequenceSettings
from core.store import open_store
from indexer import api
from ranker.evaluation.attention import AttentionReranker
from ranker.evaluation.catalog import OpenSearchItems, load_catalog
from ranker.evaluation.splits import time_split
from ranker.feedback.api import import_file
from ranker.feedback.frames import load_events
from ranker.model import publish_learned_vectors, registry
from ranker.model.checkpoint import save_checkpoint
from ranker.service import ServiceDeps, create_app
from ranker.training.options import TrainOptions
from tests.builders.retail import best_sellers_slice

pytestmark = pytest.mark.integration

SMALL = dict(attention_dim=16, hidden_dim=16, batch_size=64, negatives=8, hard_negatives=8, in_batch_negatives=16,
             validation_examples=300, epochs=1, device="cpu", seed=11)  # fmt: skip


SEQUENCE = SequenceSettings(dim=16, layers=1, max_length=20, epochs=2, validation_examples=300, batch_size=64)


@pytest.fixture(scope="module")
def retail_slice(tmp_path_factory):
    """The 300 best-selling stock codes of Online Retail and their sales lines."""
    return best_sellers_slice(tmp_path_factory.mktemp("retail") / "slice.parquet", 300)


def test_recommend_returns_what_the_evaluation_ranked(settings, fake_embedder, retail_slice, tmp_path):
    # The sequence model's order counts beside the ranker's (fused), in the service as in the evaluation.
    settings = settings.model_copy(
        update={
            "service": settings.service.model_copy(update={"recommend_candidates": 60}),
            "sequence": settings.sequence.model_copy(update={"order_weight": 2.0}),
        }
    )
    api.build_from_catalog(settings, retail_slice, embedder=fake_embedder)
    alias, url = settings.opensearch.index_alias, settings.opensearch.url
    client = make_client(settings.opensearch)
    catalog = load_catalog(client, alias, url)
    split = time_split(load_events(settings, retail_slice), horizon_days=30, catalog=catalog.position)
    evaluated = AttentionReranker(
        catalog,
        OpenSearchItems(client, alias, url),
        train_options=TrainOptions.from_settings(RankerSettings(), SEQUENCE, **SMALL),
        candidates=settings.service.recommend_candidates,
        profile_length=settings.events.history_length,
        sequence_weight=settings.sequence.order_weight,
    )
    evaluated.fit(split.train)

    # The same model served: written, registered and activated; the sales before the cutoff imported as a shop
    # imports them (catalog check on), so the profiles hold what the evaluation's histories hold.
    engine = open_store(settings.store)
    path = save_checkpoint(evaluated.checkpoint, settings.state_dir / "models" / "ranker-v1.pt")
    registry.register(engine, "v1", path, {}, activate=True)
    published = publish_learned_vectors(settings, evaluated.checkpoint)
    assert published is not None and published.items == len(catalog)
    lines = pd.read_parquet(retail_slice)
    before = tmp_path / "before-cutoff.parquet"
    lines[pd.to_datetime(lines["InvoiceDate"]) < split.cutoff].to_parquet(before)
    import_file(settings, before)
    cases = sorted(split.cases, key=lambda c: -len(c.history))[:4]  # long histories: every part of the pool used

    for case in cases:
        moment = pd.Timestamp(case.at).tz_localize(UTC).to_pydatetime()  # the evaluation ranks when the user returns
        service = TestClient(create_app(settings, deps=ServiceDeps(settings, clock=lambda m=moment: m)),
                             base_url="http://localhost")  # fmt: skip
        for include in (True, False):
            served = service.get(f"/v1/recommend/{case.user_id}", params={"k": 20, "include_purchased": include})
            body = served.json()
            assert served.status_code == 200 and body["personalized"] is True, body
            measured = evaluated.recommend([case], 20, exclude_seen=not include)[0]
            assert [r["id"] for r in body["results"]] == measured, (case.user_id, include)
            assert len(measured) == 20
