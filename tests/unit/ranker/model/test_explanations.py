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

    def capture(cands, scores, weights, hist, hist_rows, cand_rows):
        captured.update(weights=weights.copy(), hist=hist, unknown=(cand_rows < 0).copy())
        return results_fn(cands, scores, weights, hist, hist_rows, cand_rows)

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


def test_in_a_learned_space_each_result_is_explained_by_the_history_items_nearest_it():
    from ranker.model.explanations import Explainer, affinity_weights

    # Items 0-2 the history (a mug, a candle, a bag), 3-5 candidates near one of them each; 6 is unknown (-1).
    vectors = np.array([[4, 0, 0], [0, 4, 0], [0, 0, 4], [3, 1, 0], [0, 3, 1], [1, 0, 3]], dtype=np.float32)
    hist = [Interaction(f"h{i}", "purchase", NOW) for i in range(3)]
    hist_rows, cand_rows = np.arange(3), np.array([3, 4, 5, -1])
    weights = affinity_weights(vectors, cand_rows, hist_rows)
    assert np.allclose(weights[:3].sum(axis=1), 1.0) and not weights[3].any()
    assert weights[:3].argmax(axis=1).tolist() == [0, 1, 2]
    # Uniform attention would name the same items for every result; the learned space tells them apart.
    uniform = np.full((4, 3), 1 / 3, dtype=np.float32)
    explainer = Explainer(uniform, hist, hist_rows, cand_rows < 0, 2, (vectors, cand_rows))
    firsts = [explainer.row(c)[0].item_id for c in range(3)]
    assert firsts == ["h0", "h1", "h2"] and explainer.row(3) == []
    assert Explainer(uniform, hist, hist_rows, cand_rows < 0, 2).row(0)[0].weight == np.float32(1 / 3)
    # A popular item's long vector has the largest inner product with every candidate; by direction it explains
    # only what is near it.
    hub = vectors.copy()
    hub[2] = [10.0, 10.0, 40.0]  # still the bag's direction, mostly
    assert (hub[3:6] @ hub[:3].T).argmax(axis=1).tolist() == [2, 2, 2]
    assert affinity_weights(hub, cand_rows, hist_rows)[:3].argmax(axis=1).tolist() == [0, 1, 2]


def test_a_history_item_marked_not_recommendable_is_never_named():
    from ranker.model.explanations import Explainer

    hist = [Interaction(f"h{i}", "purchase", NOW) for i in range(3)]  # h1: postage, bought with everything
    weights = np.array([[0.2, 0.7, 0.1], [0.1, 0.8, 0.1]], dtype=np.float32)
    hidden = np.array([False, True, False])
    named = Explainer(weights, hist, np.arange(3), np.array([False, False]), 2, hidden=hidden)
    assert [[e.item_id for e in named.row(c)] for c in range(2)] == [["h0", "h2"], ["h0", "h2"]]
    shown = Explainer(weights, hist, np.arange(3), np.array([False, False]), 2)
    assert shown.row(0)[0].item_id == "h1"
