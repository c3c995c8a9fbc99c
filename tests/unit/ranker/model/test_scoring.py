"""The attention ranker model, its checkpoint and the numpy scorer that serves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import torch

from core.errors import ModelError
from ranker.feedback.profiles import Interaction
from ranker.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ranker.model.features import FEATURE_NAMES, candidate_features, recency_buckets
from ranker.model.item_stats import ItemStats
from ranker.model.item_vectors import ItemVectors
from ranker.model.network import AttentionRanker, RankerConfig
from ranker.model.scoring import Candidate, Scorer

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def random_inputs(b=2, c=5, h=4, d=12, f=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, c, d, generator=g),
        torch.rand(b, c, f, generator=g),
        torch.randn(b, h, d, generator=g),
        torch.randint(0, 6, (b, h), generator=g),
        torch.randint(0, 13, (b, h), generator=g),
        torch.ones(b, h, dtype=torch.bool),
    )


@pytest.mark.parametrize("dim", [8, 384, 768])
def test_shapes_for_any_embedding_dimension(dim):
    torch.manual_seed(0)
    model = AttentionRanker(RankerConfig(item_dim=dim)).eval()
    scores, weights = model(*random_inputs(b=3, c=7, h=5, d=dim))
    assert scores.shape == (3, 7) and weights.shape == (3, 7, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 7), atol=1e-5)


def test_padded_history_gets_no_weight_and_does_not_change_scores():
    torch.manual_seed(0)
    model = AttentionRanker(RankerConfig(item_dim=12)).eval()
    cand, feats, hist, types, rec, mask = random_inputs(h=6)
    mask[0, 3:] = False
    scores, weights = model(cand, feats, hist, types, rec, mask)
    assert torch.all(weights[0, :, 3:] == 0)
    hist2 = hist.clone()
    hist2[0, 3:] = 100.0  # garbage in the padded slots
    scores2, _ = model(cand, feats, hist2, types, rec, mask)
    assert torch.allclose(scores, scores2)


def test_user_without_history_gets_zero_weights_and_finite_scores():
    model = AttentionRanker(RankerConfig(item_dim=12)).eval()
    cand, feats, hist, types, rec, mask = random_inputs()
    mask[:] = False
    scores, weights = model(cand, feats, hist, types, rec, mask)
    assert torch.isfinite(scores).all() and torch.all(weights == 0)


def test_config_round_trip_and_unknown_event_types():
    config = RankerConfig(item_dim=32, attention_dim=16, feature_names=FEATURE_NAMES)
    assert RankerConfig.from_dict(config.to_dict()) == config
    assert config.type_index("purchase") == 1 and config.type_index("wishlist") == 0


def test_recency_buckets_are_log_scaled_and_clipped():
    assert recency_buckets(np.array([-5.0, 0.0, 0.9, 1.0, 3.0, 7.0, 1e6]), 13).tolist() == [0, 0, 0, 1, 2, 3, 12]


def make_items(n=30, dim=16, seed=0) -> ItemVectors:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    prices = [None if i % 7 == 0 else float(1 + i) for i in range(n)]
    return ItemVectors.from_arrays([f"i{i}" for i in range(n)], vectors, [f"item {i}" for i in range(n)], prices)


def make_checkpoint(items: ItemVectors, seed=0) -> Checkpoint:
    torch.manual_seed(seed)
    model = AttentionRanker(RankerConfig(item_dim=items.dim, attention_dim=8, hidden_dim=8)).eval()
    with torch.no_grad():  # larger weights so that differences between candidates are clear
        for p in model.parameters():
            p.mul_(3.0)
    stats = ItemStats.fit({f"i{i}": float(i) for i in range(0, len(items), 2)}, items.prices)
    return Checkpoint(model, "v7", stats, {"val_ndcg@10": 0.5}, {"note": "test"})


def test_item_vectors_get_marks_unknown_ids():
    items = make_items()
    vecs, known = items.get(["i3", "nope", "i0"])
    assert vecs.shape == (3, 16) and known.tolist() == [True, False, True]
    assert np.allclose(vecs[0], items.vectors[3]) and np.all(vecs[1] == 0)


def test_checkpoint_round_trip_rebuilds_the_model(tmp_path):
    items = make_items()
    ck = make_checkpoint(items)
    path = save_checkpoint(ck, tmp_path / "models" / "ranker-v7.pt")
    loaded = load_checkpoint(path)
    assert loaded.version == "v7" and loaded.config == ck.config
    assert loaded.metrics == {"val_ndcg@10": 0.5} and loaded.info == {"note": "test"}
    assert loaded.item_stats == ck.item_stats
    inputs = random_inputs(d=16)
    with torch.no_grad():
        assert torch.equal(loaded.model(*inputs)[0], ck.model(*inputs)[0])
    assert not list(tmp_path.glob("models/*.tmp"))


def test_a_checkpoint_of_the_previous_release_loads_with_the_history_length_it_was_trained_with(tmp_path):
    """Before the attention window joined the config it was only a training option: a checkpoint without it takes
    it from there (or the default), so it is served what it was trained on."""
    model = AttentionRanker(RankerConfig(item_dim=8, history_length=30, feature_history=120))
    path = save_checkpoint(
        Checkpoint(model, "v1", ItemStats({}), info={"options": {"history_length": 30}}), tmp_path / "c.pt"
    )
    payload = torch.load(path, weights_only=True)
    del payload["config"]["history_length"]
    torch.save(payload, path)
    loaded = load_checkpoint(path)
    assert (loaded.config.history_length, loaded.config.feature_history) == (30, 120)
    del payload["info"]["options"]
    torch.save(payload, path)
    assert load_checkpoint(path).config.history_length == RankerConfig.history_length


def test_bad_checkpoint_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read ranker checkpoint"):
        load_checkpoint(bad)
    torch.save({"format": 99}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not a ranker checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def torch_scores(ck: Checkpoint, items: ItemVectors, history, candidates) -> np.ndarray:
    """The reference: the torch model's forward pass on the same inputs the scorer builds."""
    config = ck.config
    hist_rows = items.rows([h.item_id for h in history])
    cand_rows = items.rows([c.id for c in candidates])
    stats = ck.item_stats.aligned(items.ids, items.prices)
    mask = np.ones((1, len(history)), dtype=bool)
    retrieval = np.array([[c.retrieval_score for c in candidates]], dtype=np.float32)
    ages = np.array([(NOW - h.ts).total_seconds() / 86400 for h in history])
    feats = candidate_features(retrieval, cand_rows[None], hist_rows[None], mask, stats, ages[None], config.features)
    with torch.no_grad():
        scores, _ = ck.model(
            torch.from_numpy(items.vectors[cand_rows])[None],
            torch.from_numpy(feats),
            torch.from_numpy(items.vectors[hist_rows])[None],
            torch.tensor([[config.type_index(h.type) for h in history]]),
            torch.from_numpy(recency_buckets(ages, config.recency_buckets))[None],
            torch.from_numpy(mask),
        )
    return scores[0].numpy()


def test_numpy_scorer_matches_the_torch_model():
    items = make_items()
    ck = make_checkpoint(items)
    history = [Interaction(f"i{i}", t, NOW - timedelta(days=d)) for i, t, d in [(3, "purchase", 1), (5, "view", 40),
               (3, "click", 400), (9, "wishlist", 0.1)]]  # fmt: skip
    candidates = [Candidate(f"i{i}", float(s)) for i, s in [(3, 0.9), (4, 0.5), (11, 0.7), (20, 0.1), (21, 0.1)]]
    expected = torch_scores(ck, items, history, candidates)
    results = Scorer(ck, items).score(history, candidates, now=NOW)
    got = {r.id: r.score for r in results}
    assert np.allclose([got[c.id] for c in candidates], expected, atol=1e-5)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert {r.id: r.retrieval_score for r in results} == {c.id: c.retrieval_score for c in candidates}


def test_scorer_handles_unknown_items_empty_history_and_no_candidates():
    items = make_items()
    scorer = Scorer(make_checkpoint(items), items)
    assert scorer.score([Interaction("i1", "purchase", NOW)], []) == []
    cands = [Candidate("i1", 1.0), Candidate("ghost", 0.5)]
    results = scorer.score([Interaction("ghost-item", "purchase", NOW)], cands, now=NOW)
    assert sorted(r.id for r in results) == ["ghost", "i1"]
    assert all(r.explanations == [] for r in results)  # the only history item is unknown
    results = scorer.score([Interaction("i2", "purchase", NOW)], cands, now=NOW)
    by_id = {r.id: r for r in results}
    assert [e.item_id for e in by_id["i1"].explanations] == ["i2"] and by_id["ghost"].explanations == []


def test_scorer_refuses_vectors_of_another_dimension():
    items = make_items(dim=16)
    with pytest.raises(ModelError, match="expects 16-dim"):
        Scorer(make_checkpoint(items), make_items(dim=8))


def focused_model(dim: int) -> Checkpoint:
    """A hand-set model whose attention goes to the history item most like the candidate and whose score is
    the dot product of candidate and interest: the history item that explains a result is known."""
    config = RankerConfig(item_dim=dim, attention_dim=dim, hidden_dim=1, dropout=0.0)
    model = AttentionRanker(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        eye = torch.eye(dim)
        model.query.weight.copy_(eye * 8.0)  # sharp attention
        model.key.weight.copy_(eye)
        model.value.weight.copy_(eye)
        # hidden = relu(sum(q * interest)); the q*interest block starts at 2A.
        model.hidden.weight[0, 2 * dim : 3 * dim] = 1.0
        model.out.weight.fill_(1.0)
    return Checkpoint(model, "v1", ItemStats({}, 0.0, 1.0))


def test_explanations_name_the_history_item_that_drives_the_score():
    dim = 8
    vectors = np.eye(dim, dtype=np.float32)  # orthogonal items: a candidate is only like itself
    items = ItemVectors.from_arrays([f"i{i}" for i in range(dim)], vectors)
    scorer = Scorer(focused_model(dim), items, explanations=2)
    history = [Interaction("i0", "purchase", NOW), Interaction("i1", "view", NOW), Interaction("i0", "click", NOW)]
    results = scorer.score(history, [Candidate("i5", 0.9), Candidate("i1", 0.1)], now=NOW)
    assert results[0].id == "i1"  # its own history item lifts it above the unrelated, better-retrieved one
    top = results[0].explanations[0]
    assert (top.item_id, top.type) == ("i1", "view") and top.weight > 0.85
    # i0 is in the history twice: named once, its weight summed, its newest event type shown.
    unrelated = results[1].explanations
    assert [e.item_id for e in unrelated] == ["i0", "i1"] and unrelated[0].type == "purchase"
    assert unrelated[0].weight == pytest.approx(2 / 3, abs=1e-4)


def test_recency_is_the_same_for_naive_utc_and_aware_timestamps():
    from datetime import timezone

    items = make_items()
    scorer = Scorer(make_checkpoint(items), items)
    naive = [Interaction("i1", "purchase", datetime(2025, 12, 31, 12, 0))]
    aware = [Interaction("i1", "purchase", datetime(2025, 12, 31, 13, 0, tzinfo=timezone(timedelta(hours=1))))]
    berlin_now = NOW.astimezone(timezone(timedelta(hours=1)))
    for history in (naive, aware):
        for now in (NOW, NOW.replace(tzinfo=None), berlin_now):
            assert scorer._ages_days(history, now).tolist() == [0.5]


def test_retrieval_scores_within_the_services_bound_give_finite_scores():
    """The service refuses hit scores beyond ``MAX_SCORE`` (``HitIn.score``): up to it, the float32 min-max of the
    retrieval scores stays finite; beyond float32 (1e39) it would not, and the reply would say ``null``."""
    from ranker.service.schemas import MAX_SCORE

    items = make_items()
    scorer = Scorer(make_checkpoint(items), items)
    history = [Interaction("i1", "purchase", NOW), Interaction("i4", "view", NOW)]
    edge = [Candidate("i2", MAX_SCORE), Candidate("i3", -MAX_SCORE), Candidate("i5", 0.0)]
    assert all(np.isfinite(r.score) for r in scorer.score(history, edge, now=NOW))
    beyond = [Candidate("i2", 1e39), Candidate("i3", 1.0)]
    with np.errstate(all="ignore"):
        assert not all(np.isfinite(r.score) for r in scorer.score(history, beyond, now=NOW))


def test_custom_event_types_share_the_unknown_row_and_never_grow_the_scorer():
    items = make_items()
    scorer = Scorer(make_checkpoint(items), items)
    known = len(scorer._type_index)
    cands = [Candidate("i1", 1.0), Candidate("i4", 0.5)]
    first = None
    for n in range(500):  # a client sending a new 32-character custom type with every event
        history = [Interaction("i2", f"custom-{n:025d}", NOW), Interaction("i3", "purchase", NOW)]
        scores = [r.score for r in scorer.score(history, cands, now=NOW)]
        first = first or scores
        assert scores == first  # every unknown type is the model's one unknown-type row
    assert len(scorer._type_index) == known == len(scorer.config.event_types)
