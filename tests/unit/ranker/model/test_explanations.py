"""The scorer's results: sorted, with explanations that are worked out when first read and equal what an eager
computation gives; ``Scored`` still constructs, compares and prints like the dataclass it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from ranker.feedback.profiles import Interaction
from ranker.model import Candidate, Explanation, Scored, Scorer
from ranker.model.checkpoint import Checkpoint
from ranker.model.item_stats import ItemStats
from ranker.model.item_vectors import ItemVectors
from ranker.model.network import AttentionRanker, RankerConfig

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TYPES = ("purchase", "view", "click", "add_to_cart")


def scorer(explanations: int = 3, n: int = 40, dim: int = 8) -> Scorer:
    import torch

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    items = ItemVectors.from_arrays([f"i{i}" for i in range(n)], vectors, prices=list(rng.uniform(1, 9, n)))
    model = AttentionRanker(RankerConfig(item_dim=dim, attention_dim=8, hidden_dim=8, dropout=0.0)).eval()
    return Scorer(Checkpoint(model, "v1", ItemStats({}, 0.0, 1.0)), items, explanations=explanations, threads=None)


def eager_explanations(s: Scorer, history, candidates) -> dict[str, list[tuple[str, str, float]]]:
    """The explanations worked out directly from the attention weights (the reference)."""
    captured = {}
    results_fn = s._results

    def capture(cands, scores, weights, hist, hist_rows, unknown):
        captured.update(weights=weights.copy(), hist=hist, unknown=unknown.copy())
        return results_fn(cands, scores, weights, hist, hist_rows, unknown)

    s._results = capture
    s.score(history, candidates, now=NOW)
    del s._results
    out = {}
    for c, cand in enumerate(candidates):
        per_item: dict[str, float] = {}
        kind: dict[str, str] = {}
        for h, w in zip(captured["hist"], captured["weights"][c], strict=True):
            per_item[h.item_id] = per_item.get(h.item_id, 0.0) + float(w)
            kind.setdefault(h.item_id, h.type)  # newest first
        ranked = sorted(per_item.items(), key=lambda kv: -kv[1])[: s.explanations]
        out[cand.id] = [] if captured["unknown"][c] else [(i, kind[i], w) for i, w in ranked if w > 0]
    return out


def test_lazy_explanations_equal_the_eager_computation_and_outlive_later_calls():
    s = scorer()
    rng = np.random.default_rng(1)
    calls = []
    for _ in range(20):
        picks = rng.integers(0, 45, size=int(rng.integers(1, 30)))  # ids >= 40 are unknown; repeats are common
        history = [Interaction(f"i{j}", TYPES[j % 4], NOW - timedelta(days=float(d)))
                   for j, d in zip(picks, rng.uniform(0, 300, len(picks)), strict=True)]  # fmt: skip
        candidates = [
            Candidate(f"i{j}", float(r)) for j, r in zip(rng.permutation(45)[:25], rng.random(25), strict=True)
        ]
        calls.append((s.score(history, candidates, now=NOW), eager_explanations(s, history, candidates)))
    for results, expected in calls:  # read only after every call: each result keeps its own call's weights
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
        for r in results:
            got = [(e.item_id, e.type, e.weight) for e in r.explanations]
            want = expected[r.id]
            assert [g[:2] for g in got] == [w[:2] for w in want], r.id
            assert np.allclose([g[2] for g in got], [w[2] for w in want], atol=1e-5)


def test_no_explanations_asked_or_no_history_gives_empty_lists():
    candidates = [Candidate("i1", 0.5), Candidate("i2", 0.4)]
    assert all(r.explanations == [] for r in scorer(explanations=0).score([Interaction("i3", "view", NOW)], candidates))
    assert all(r.explanations == [] for r in scorer().score([], candidates, now=NOW))


def test_scored_constructs_compares_and_prints_like_a_dataclass():
    a = Scored("i1", 0.5, 0.9)
    assert a.explanations == [] and a == Scored("i1", 0.5, 0.9, [])
    b = Scored("i1", 0.5, 0.9, [Explanation("i2", 0.7, "purchase")])
    assert a != b and repr(b) == (
        "Scored(id='i1', score=0.5, retrieval_score=0.9, "
        "explanations=[Explanation(item_id='i2', weight=0.7, type='purchase')])"
    )
    a.explanations = [Explanation("i2", 0.7, "purchase")]
    assert a == b
    s = scorer()
    history = [Interaction("i3", "view", NOW), Interaction("i4", "purchase", NOW)]
    lazy = s.score(history, [Candidate("i1", 0.5)], now=NOW)[0]
    assert lazy == Scored(lazy.id, lazy.score, lazy.retrieval_score, list(lazy.explanations))
