"""The scorer keeps each user's history state between requests: an event posted to the service changes the user's
next answer. Real scorer (a hand-set model), real profile store on SQLite, the service's routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import torch
from fastapi.testclient import TestClient

from core.settings import ServiceSettings, Settings, StoreSettings
from core.store import open_store
from ranker.feedback.profiles import ProfileStore
from ranker.model.checkpoint import Checkpoint
from ranker.model.item_stats import ItemStats
from ranker.model.item_vectors import ItemVectors
from ranker.model.network import AttentionRanker, RankerConfig
from ranker.model.scoring import Candidate, Scorer
from ranker.service import ServiceDeps, create_app
from tests.fakes.service import ITEMS, FakeActivity, FakeIndex, FakeVectors, _Embedder

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HITS = [{"id": i, "score": 0.5} for i in ITEMS]


def focused_model(dim: int) -> Checkpoint:
    """Attention goes to the history item most like the candidate, and the score is their dot product: an item
    like one of the history's scores high."""
    model = AttentionRanker(RankerConfig(item_dim=dim, attention_dim=dim, hidden_dim=1, dropout=0.0)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.query.weight.copy_(torch.eye(dim) * 8.0)
        model.key.weight.copy_(torch.eye(dim))
        model.value.weight.copy_(torch.eye(dim))
        model.hidden.weight[0, 2 * dim : 3 * dim] = 1.0
        model.out.weight.fill_(1.0)
    return Checkpoint(model, "v1", ItemStats({}, 0.0, 1.0))


def test_an_event_posted_to_the_service_changes_the_users_next_answer(tmp_path):
    settings = Settings(
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        service=ServiceSettings(profile_deadline_ms=10_000, allowed_hosts="testserver", search_personal_weight=100.0),
    )  # fmt: skip  (the user's order)
    store = ProfileStore(open_store(settings.store), settings)
    fake = FakeVectors()
    items = ItemVectors.from_arrays(fake.ids, fake.vectors)
    scorer = Scorer(focused_model(4), items, threads=None)
    deps = ServiceDeps(settings, embedder=_Embedder(), index=FakeIndex(), vectors=fake, profiles=store, ranker=scorer,
                       activity=FakeActivity(), clock=lambda: NOW)  # fmt: skip
    c = TestClient(create_app(settings, deps=deps))

    def ranked() -> list[tuple[str, float]]:
        body = c.post("/v1/rerank", json={"user_id": "u1", "hits": HITS}).json()
        assert body["personalized"] is True
        return [(r["id"], r["score"]) for r in body["results"]]

    event = {"user_id": "u1", "item_id": "A1", "type": "purchase", "ts": (NOW - timedelta(days=3)).isoformat()}
    assert c.post("/v1/events", json={"events": [event]}).status_code == 200
    first = ranked()
    assert first[0][0] in ("A1", "A2") and ranked() == first  # the red items lead; asked again: the kept state
    assert (scorer.states.hits, scorer.states.misses) == (1, 1)

    event = {**event, "item_id": "C1", "ts": (NOW - timedelta(hours=1)).isoformat()}  # the user turns to green
    assert c.post("/v1/events", json={"events": [event]}).status_code == 200
    second = ranked()
    ids = [i for i, _ in second]
    assert second != first and ids.index("C1") < [i for i, _ in first].index("C1") == len(ITEMS) - 1
    assert scorer.states.misses == 2  # the new history is a new state
    # The answer of a scorer that keeps nothing, on the history the store now gives.
    fresh = Scorer(focused_model(4), items, threads=None, user_states=0)
    expected = fresh.score(store.history("u1"), [Candidate(h["id"], h["score"]) for h in HITS], now=NOW)
    assert [r[0] for r in second] == [r.id for r in expected]
