"""What lets the service hold a million items: a float16 item table, projections computed per request above a
catalog size, and per-request candidate lists that never pass over the catalog (ranker.model.scoring)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import torch

from core.settings import SequenceSettings
from ranker.feedback.profiles import Interaction
from ranker.model.checkpoint import Checkpoint, SequencePart
from ranker.model.cooccurrence import CoOccurrence
from ranker.model.features import FEATURE_NAMES
from ranker.model.item_stats import ItemStats
from ranker.model.item_vectors import ItemVectors
from ranker.model.network import AttentionRanker, RankerConfig
from ranker.model.scoring import Candidate, Scorer
from ranker.model.sequence import SequenceConfig, SequenceModel

NOW = datetime(2026, 1, 1, tzinfo=UTC)
N, DIM = 400, 24


def _items(dtype: str = "float32", n: int = N) -> ItemVectors:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flags = [i % 11 != 5 for i in range(n)]  # some items not recommendable
    return ItemVectors.from_arrays([f"i{i}" for i in range(n)], vectors, [f"item {i}" for i in range(n)],
                                   [float(1 + i % 17) for i in range(n)], flags, dtype=dtype)  # fmt: skip


def _checkpoint(items: ItemVectors) -> Checkpoint:
    torch.manual_seed(0)
    names = (*FEATURE_NAMES, "sequence")
    model = AttentionRanker(RankerConfig(item_dim=DIM, num_features=len(names), feature_names=names,
                                         feature_history=60)).eval()  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    rng = np.random.default_rng(5)
    ids = list(items.ids)
    lines = rng.zipf(1.4, 6000) % len(ids)
    baskets = rng.integers(0, 900, len(lines))
    cooc = CoOccurrence.fit(baskets, [ids[i] for i in lines])
    counts = np.bincount(lines, minlength=len(ids))
    trend = {ids[i]: float(c) for i, c in enumerate(np.bincount(lines[:800], minlength=len(ids))) if c}
    stats = ItemStats.fit({ids[i]: float(c) for i, c in enumerate(counts) if c}, items.prices, cooc,
                          ({i: 0.2 for i in ids}, 0.1), (trend, 2.0))  # fmt: skip
    d = SequenceSettings()
    seq = SequenceConfig(items=len(ids), text_dim=DIM, dim=16, layers=1, heads=2, max_length=d.max_length)
    return Checkpoint(model, "v1", stats, sequence=SequencePart(SequenceModel(seq).eval(), ids))


def _users(n_users: int = 12):
    rng = np.random.default_rng(9)
    users = []
    for _ in range(n_users):
        history = [Interaction(f"i{j}", "purchase", NOW - timedelta(days=float(d)))
                   for j, d in zip(rng.zipf(1.4, 40) % N, sorted(rng.uniform(0, 200, 40)), strict=True)]  # fmt: skip
        candidates = [Candidate(f"i{j}", float(s)) for j, s in zip(rng.choice(N, 60, replace=False), rng.random(60),
                                                                    strict=True)]  # fmt: skip
        users.append((history, candidates + [Candidate("ghost", 0.3)]))
    return users


def test_float16_item_table_reads_back_as_float32_close_to_the_original():
    wide, half = _items("float32"), _items("float16")
    assert half.vectors.dtype == np.float16 and half.vectors.nbytes * 2 == wide.vectors.nbytes
    got, known = half.get(["i3", "nope", "i7"])
    assert got.dtype == np.float32 and known.tolist() == [True, False, True] and np.all(got[1] == 0)
    assert np.allclose(got[[0, 2]], wide.vectors[[3, 7]], atol=1e-3)
    assert half.float32_rows(2, 5).dtype == np.float32
    with pytest.raises(ValueError, match="dtype must be one of auto, float32, float16"):
        ItemVectors.from_arrays(["a"], np.ones((1, 2)), dtype="int8")


def test_projections_per_request_give_the_precomputed_scores():
    items = _items()
    ck = _checkpoint(items)
    table = Scorer(ck, items, sequence_weight=4.0)
    per_request = Scorer(ck, items, sequence_weight=4.0, projection_limit=0)
    assert table.precomputed and not per_request.precomputed
    for history, candidates in _users():
        a = table.score(history, candidates, now=NOW)
        b = per_request.score(history, candidates, now=NOW)
        assert [r.id for r in a] == [r.id for r in b]
        assert np.allclose([r.score for r in a], [r.score for r in b], atol=1e-5)
        assert [[e.item_id for e in r.explanations] for r in a] == [[e.item_id for e in r.explanations] for r in b]


def test_float16_items_keep_the_scorers_top_10():
    wide, half = _items("float32"), _items("float16")
    ck = _checkpoint(wide)
    a, b = Scorer(ck, wide), Scorer(ck, half, projection_limit=0)
    for history, candidates in _users():
        top_a = [r.id for r in a.score(history, candidates, now=NOW)][:10]
        top_b = [r.id for r in b.score(history, candidates, now=NOW)][:10]
        assert top_a == top_b


def _companions_over_the_catalog(scorer: Scorer, history, n: int) -> list[str]:
    """The reference: the history rows' co-occurrence summed into a column per item, sorted over the catalog."""
    items = scorer.item_vectors
    rows = items.rows([h.item_id for h in history[: scorer.config.feature_history]])
    sums = np.asarray(scorer.stats.cooc[rows[rows >= 0]].sum(axis=0)).ravel()[:-1]
    sums = np.where(items.recommendable, sums, 0)
    top = np.argsort(-sums, kind="stable")[:n]
    return [items.ids[i] for i in top if sums[i] > 0]


def test_companions_and_trending_read_no_more_than_their_items_and_match_a_pass_over_the_catalog():
    items = _items()
    scorer = Scorer(_checkpoint(items), items)
    seen = 0
    for history, _ in _users():
        for n in (1, 5, 50, 1000):
            got = scorer.companions(history, n)
            assert got == _companions_over_the_catalog(scorer, history, n)
            seen += len(got)
    assert seen > 100  # the histories do have co-purchases
    trend = np.where(items.recommendable, scorer.stats.trend[:-1], 0)
    order = np.argsort(-trend, kind="stable")
    expected = [items.ids[i] for i in order if trend[i] > 0]
    assert len(expected) > 20 and scorer.trending(1000) == expected and scorer.trending(7) == expected[:7]
    assert all(items.recommendable[items.rows(expected)])


def test_auto_keeps_float32_for_a_small_catalog_and_halves_a_large_one(monkeypatch):
    from ranker.model import item_vectors

    small = ItemVectors.from_arrays(["a", "b"], np.ones((2, 4)), dtype="auto")
    assert small.vectors.dtype == np.float32
    monkeypatch.setattr(item_vectors, "AUTO_FLOAT16_ABOVE", 1)
    large = ItemVectors.from_arrays(["a", "b"], np.ones((2, 4)), dtype="auto")
    assert large.vectors.dtype == np.float16
