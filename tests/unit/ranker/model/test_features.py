"""The ranker's co-occurrence table, its repeat / recency / co-occurrence features, and the hard negatives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import ModelError
from ranker.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ranker.model.cooccurrence import CoOccurrence, history_sums
from ranker.model.features import FEATURE_NAMES, candidate_features, repeat_share
from ranker.model.item_stats import ItemStats, repeat_rates
from ranker.model.network import AttentionRanker, RankerConfig
from ranker.training.examples import build_examples, in_basket
from ranker.training.negatives import hard_draw_rates, neighbour_steps, sample_hard
from tests.builders.shop import clustered_shop

# Baskets: 1 = {a, b, c}, 2 = {a, b}, 3 = {a, d}, 4 = {a, a} (one item twice counts once, pairs with nothing).
BASKETS = np.array([1, 1, 1, 2, 2, 3, 3, 4, 4])
ITEMS = ["a", "b", "c", "a", "b", "a", "d", "a", "a"]


def test_cooccurrence_counts_baskets_holding_both_items():
    co = CoOccurrence.fit(BASKETS, ITEMS)
    m = {item: n for n, item in enumerate(co.ids)}
    dense = co.matrix.toarray()
    assert dense[m["a"], m["b"]] == 2 and dense[m["b"], m["a"]] == 2
    assert dense[m["a"], m["c"]] == 1 and dense[m["a"], m["d"]] == 1 and dense[m["c"], m["d"]] == 0
    assert np.all(np.diag(dense) == 0)


def test_cooccurrence_keeps_the_top_neighbours_and_round_trips():
    co = CoOccurrence.fit(BASKETS, ITEMS, neighbours=1)
    a = co.ids.index("a")
    row = co.matrix[a].toarray()[0]
    assert row.nonzero()[0].tolist() == [co.ids.index("b")]  # a's strongest neighbour only
    assert CoOccurrence.from_dict(co.to_dict()) == co
    assert CoOccurrence.from_dict(None) == CoOccurrence.empty()


def test_aligned_table_follows_the_item_rows_and_drops_unknown_items():
    co = CoOccurrence.fit(BASKETS, ITEMS)
    table = co.aligned(["d", "x", "a", "b"])  # c is not in the index; x has no baskets
    dense = table.toarray()
    assert dense.shape == (5, 5)
    assert dense[2, 3] == 2 and dense[0, 2] == 1 and dense[1].sum() == 0 and dense[4].sum() == 0


def test_history_sums_weights_each_history_item():
    table = CoOccurrence.fit(BASKETS, ITEMS).aligned(["a", "b", "c", "d"])
    hist = np.array([[0, 2], [1, -1]])  # user 0: a, c; user 1: b (+ padding)
    weights = np.array([[1.0, 0.5], [1.0, 0.0]])
    cand = np.array([[1, 3, -1], [0, 2, 3]])
    got = history_sums(table, hist, weights, cand)
    # user 0: b <- a (2) + c (1 x 0.5); d <- a (1); unknown <- 0.  user 1: a <- b (2); c <- b (1); d <- 0.
    assert got.tolist() == [[2.5, 1.0, 0.0], [2.0, 1.0, 0.0]]


def stats_for(ids, baskets=BASKETS, items=ITEMS) -> ItemStats:
    prices = np.ones(len(ids))
    return ItemStats.fit({i: 1.0 for i in ids}, prices, CoOccurrence.fit(baskets, items))


def test_repeat_recency_and_cooccurrence_features():
    ids = ["a", "b", "c", "d"]
    stats = stats_for(ids).aligned(ids, np.ones(4))
    hist = np.array([[0, 0, 2]])  # a twice (ages 1 and 60 days), c (age 30)
    ages = np.array([[1.0, 60.0, 30.0]])
    mask = np.ones((1, 3), dtype=bool)
    cand = np.array([[0, 1, 3]])
    f = candidate_features(np.zeros((1, 3)), cand, hist, mask, stats, ages)
    col = {name: f[0, :, i] for i, name in enumerate(FEATURE_NAMES)}
    assert col["repeat"][0] == pytest.approx(np.log1p(2)) and col["repeat"][1] == 0
    assert col["repeat_recent"][0] == pytest.approx(np.log1p(0.5 ** (1 / 30) + 0.5**2), rel=1e-5)
    assert col["last_seen"][0] == pytest.approx(1 / (1 + np.log2(2.0))) and col["last_seen"][2] == 0
    # a goes with c (1 basket); b with a (2) and c (1), a twice in the history -> 2 + 2 + 1; d with a -> 1 + 1.
    assert col["cooc"].tolist() == pytest.approx([np.log1p(1.0), np.log1p(5.0), np.log1p(2.0)])
    assert col["cooc_recent"][1] < col["cooc"][1]


def test_leave_out_removes_the_target_baskets_own_pairs():
    ids = ["a", "b", "c", "d"]
    stats = stats_for(ids).aligned(ids, np.ones(4))
    hist, mask, ages = np.array([[0]]), np.ones((1, 1), dtype=bool), np.zeros((1, 1))
    cand = np.array([[1, 3]])
    full = candidate_features(np.zeros((1, 2)), cand, hist, mask, stats, ages, ("cooc",))
    # The example's basket held a and b: one of the two a-b baskets is the answer itself.
    left = candidate_features(np.zeros((1, 2)), cand, hist, mask, stats, ages, ("cooc",),
                              leave_out=(np.array([[True, False]]), np.array([[True]])))  # fmt: skip
    assert full[0, :, 0].tolist() == pytest.approx([np.log1p(2), np.log1p(1)])
    assert left[0, :, 0].tolist() == pytest.approx([np.log1p(1), np.log1p(1)])


def test_features_follow_the_checkpoint_names_and_reject_unknown_ones():
    ids = ["a", "b"]
    stats = stats_for(ids).aligned(ids, np.ones(2))
    args = (np.zeros((1, 2)), np.array([[0, 1]]), np.array([[0]]), np.ones((1, 1), dtype=bool), stats)
    old = candidate_features(*args, names=FEATURE_NAMES[:6])
    assert old.shape == (1, 2, 6)
    assert RankerConfig(num_features=6).features == FEATURE_NAMES[:6]
    with pytest.raises(ModelError, match="'mood'"):
        candidate_features(*args, names=("retrieval", "mood"))


def test_checkpoint_keeps_the_cooccurrence_table(tmp_path):
    ids = ["a", "b", "c", "d"]
    config = RankerConfig(item_dim=4, attention_dim=4, hidden_dim=4, num_features=len(FEATURE_NAMES),
                          feature_names=FEATURE_NAMES, feature_history=123)  # fmt: skip
    ck = Checkpoint(AttentionRanker(config), "v1", stats_for(ids))
    loaded = load_checkpoint(save_checkpoint(ck, tmp_path / "r.pt"))
    assert loaded.item_stats == ck.item_stats and loaded.config.feature_history == 123
    assert loaded.item_stats.cooc.matrix.nnz == ck.item_stats.cooc.matrix.nnz > 0


def test_hard_negatives_come_from_the_users_past_and_its_co_purchases():
    events, items = clustered_shop(users=16)
    config = RankerConfig(item_dim=items.dim)
    data = build_examples(events, items, config, targets_per_basket=1, validation_fraction=0.2)
    table = data.cooccurrence(items.ids).aligned(items.ids)
    ex = np.arange(len(data.target))
    hard = sample_hard(np.random.default_rng(0), data, ex, table, 8, 200)
    companions = []
    for b, x in enumerate(ex):
        past = set(data.item_rows[data.user_start[x] : data.hist_end[x]].tolist())
        neighbours = set().union(*(table[r].indices.tolist() for r in past))
        assert set(hard[b, :4].tolist()) <= past
        companions += [r in neighbours for r in hard[b, 4:]]
    # A recent item bought only after the counts' cutoff has no neighbours yet: that slot is drawn uniformly.
    assert np.mean(companions) > 0.9
    # Users buy within their own cluster: so do their hard negatives.
    cluster = np.array([int(i.split("-")[0][1:]) for i in items.ids])
    assert np.mean(cluster[hard] == cluster[data.target][:, None]) > 0.9


def test_hard_negatives_without_co_purchases_are_past_items_and_uniform_draws():
    from scipy import sparse

    events, items = clustered_shop(users=6)
    data = build_examples(events, items, RankerConfig(item_dim=items.dim), targets_per_basket=1)
    empty = sparse.csr_matrix((len(items) + 1, len(items) + 1), dtype=np.float32)
    ex = np.arange(len(data.target))
    hard = sample_hard(np.random.default_rng(0), data, ex, empty, 8, 200)
    assert hard.shape == (len(ex), 8) and hard.min() >= 0 and hard.max() < len(items)
    for b, x in enumerate(ex):
        assert set(hard[b, :4].tolist()) <= set(data.item_rows[data.user_start[x] : data.hist_end[x]].tolist())


def test_in_basket_marks_what_the_example_bought_together():
    events = pd.DataFrame({
        "user_id": ["u"] * 5, "item_id": ["a", "b", "c", "d", "a"], "type": ["purchase"] * 5,
        "ts": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-05", "2024-01-05", "2024-01-09"]),
    })  # fmt: skip
    ids = ["a", "b", "c", "d"]
    from ranker.model.item_vectors import ItemVectors

    items = ItemVectors.from_arrays(ids, np.eye(4, dtype=np.float32), ids, [1.0] * 4)
    data = build_examples(events, items, RankerConfig(item_dim=4), targets_per_basket=5, validation_fraction=0.0)
    second = [x for x in range(len(data.target)) if data.target_day[x] == 4.0]
    assert sorted(data.target[second].tolist()) == [2, 3]
    marks = in_basket(data, np.array(second[:1]), np.array([[0, 1, 2, 3]]))
    assert marks.tolist() == [[False, False, True, True]]


def test_hard_draw_rates_match_what_sample_hard_draws():
    events, items = clustered_shop(users=8)
    data = build_examples(
        events, items, RankerConfig(item_dim=items.dim), targets_per_basket=1, validation_fraction=0.2
    )
    table = data.cooccurrence(items.ids).aligned(items.ids)
    ex = np.arange(len(data.target))[-5:]
    rng = np.random.default_rng(1)
    draws = np.concatenate([sample_hard(rng, data, ex, table, 6, 200) for _ in range(4000)], axis=1)  # (B, 24000)
    cand = np.tile(np.arange(len(items))[None, :], (len(ex), 1))
    counted = np.stack([np.bincount(d, minlength=len(items)) for d in draws]) / 4000
    expected = hard_draw_rates(data, ex, cand, neighbour_steps(table), 6, 200)
    # The rates leave out the uniform fallback of a neighbourless recent item: compare where an item can be drawn.
    assert np.abs(counted - expected).max() < 0.1 and expected.sum(axis=1) == pytest.approx(6.0, abs=0.6)


def test_repeat_rates_share_of_buyers_who_came_back():
    users = np.array([1, 1, 2, 2, 3, 3])
    baskets = np.array([10, 11, 20, 20, 30, 31])
    items = np.array(["tea", "tea", "tea", "mat", "mat", "cup"])
    rates, prior = repeat_rates(users, baskets, items, strength=0.0)
    # tea: user 1 twice (two baskets), user 2 once -> 1/2; mat and cup: nobody again. Buyer-item pairs: 5, 1 again.
    assert rates == {"tea": 0.5, "mat": 0.0, "cup": 0.0} and prior == pytest.approx(0.2)
    smoothed, _ = repeat_rates(users, baskets, items, strength=4.0)
    assert smoothed["mat"] == pytest.approx((0 + 4 * 0.2) / (2 + 4))


def test_user_repeat_share_counts_repeated_history_events():
    rows = np.array([[3, 3, 5, 0], [7, 8, 9, 9]])
    mask = np.array([[True, True, True, False], [True, True, True, True]])
    assert repeat_share(rows, mask).tolist() == pytest.approx([1 - 2 / 3, 1 - 3 / 4])
    assert repeat_share(rows, np.zeros_like(mask)).tolist() == [0.0, 0.0]


def test_validation_counts_each_candidate_item_once():
    from ranker.training.validation import repeated

    marks = repeated(np.array([[5, 3, 5, 3, 1], [1, 2, 3, 4, 1]]))
    assert marks.tolist() == [[False, False, True, True, False], [False, False, False, False, True]]


def test_repeat_due_peaks_when_the_usual_gap_has_passed():
    from ranker.model.features import past_stats, repeat_due

    hist = np.array([[0, 0, 0, 1, 2, 2]])  # item 0 every 30 days, last 30 days ago; item 1 once; item 2 same day
    ages = np.array([[30.0, 60.0, 90.0, 5.0, 3.0, 3.0]])
    mask = np.ones((1, 6), dtype=bool)
    cand = np.array([[0, 1, 2, 3, -1]])
    due = repeat_due(past_stats(cand, hist, mask, ages))[0]
    assert due[0] == pytest.approx(np.exp(-abs(np.log(30.5 / 30))), rel=1e-5) and due[1:].tolist() == [0, 0, 0, 0]
    early = repeat_due(past_stats(cand, hist, mask, ages - 25.0))[0]  # bought 5 days ago: not due yet
    assert early[0] < due[0]


def test_past_stats_group_each_users_history_by_item():
    from ranker.model.features import past_stats

    hist = np.array([[4, 2, 4, 9], [4, 4, 7, 7]])
    mask = np.array([[True, True, True, True], [True, True, False, False]])  # user 1's 7s are padding
    ages = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 0.0, 0.0]])
    past = past_stats(np.array([[4, 7, -1], [4, 7, 2]]), hist, mask, ages)
    assert past.count.tolist() == [[2, 0, 0], [2, 0, 0]]
    assert past.last_age.tolist() == [[1, 0, 0], [10, 0, 0]] and past.first_age.tolist() == [[3, 0, 0], [20, 0, 0]]
    assert past.decayed[0, 0] == pytest.approx(0.5 ** (1 / 30) + 0.5 ** (3 / 30), rel=1e-5)


def test_scorer_offers_co_purchases_and_trending_items_as_candidates():
    from types import SimpleNamespace

    from ranker.model.item_vectors import ItemVectors
    from ranker.model.scoring import Scorer

    ids = ["a", "b", "c", "d"]
    items = ItemVectors.from_arrays(ids, np.eye(4, dtype=np.float32), ids, [1.0] * 4)
    stats = ItemStats.fit({i: 1.0 for i in ids}, np.ones(4), CoOccurrence.fit(BASKETS, ITEMS),
                          trend=({"d": 3.0, "c": 1.0}, np.log1p(3.0)))  # fmt: skip
    config = RankerConfig(item_dim=4, attention_dim=4, hidden_dim=4, num_features=len(FEATURE_NAMES),
                          feature_names=FEATURE_NAMES)  # fmt: skip
    scorer = Scorer(Checkpoint(AttentionRanker(config).eval(), "v1", stats), items, threads=None)
    history = [SimpleNamespace(item_id="b", type="purchase"), SimpleNamespace(item_id="zz", type="view")]
    assert scorer.companions(history, 5) == ["a", "c"]  # b's partners: a (2 baskets), c (1)
    assert scorer.companions([], 5) == [] and scorer.trending(5) == ["d", "c"] and scorer.trending(1) == ["d"]


def test_history_sums_from_the_sparse_rows_match_a_dense_computation():
    rng = np.random.default_rng(3)
    from scipy import sparse

    table = sparse.random(301, 301, density=0.05, format="csr", random_state=2, dtype=np.float32)
    hist, cand = rng.integers(-1, 300, size=(6, 40)), rng.integers(-1, 300, size=(6, 25))
    cand[:, -1] = cand[:, 0]  # a candidate listed twice gets its sum twice
    weights = (rng.random((6, 40)) * (rng.random((6, 40)) > 0.3)).astype(np.float32)
    got = history_sums(table, hist, weights, cand)
    dense = table.toarray()
    expected = np.einsum("bh,bhc->bc", weights, dense[(hist % 301)[:, :, None], (cand % 301)[:, None, :]])
    assert np.allclose(got, expected, atol=1e-5)
    stacked = history_sums(table, hist, np.stack([weights, 2 * weights]), cand)
    assert np.allclose(stacked[0], expected, atol=1e-5) and np.allclose(stacked[1], 2 * expected, atol=1e-5)


def test_history_sums_from_the_dense_table_match_the_sparse_rows(monkeypatch):
    from scipy import sparse

    import ranker.model.cooccurrence as cooccurrence
    from ranker.model.cooccurrence import dense_table

    rng = np.random.default_rng(4)
    table = sparse.random(201, 201, density=0.05, format="csr", random_state=5, dtype=np.float32) * 7
    table.data = np.round(table.data)  # counts
    table.eliminate_zeros()
    hist, cand = rng.integers(-1, 200, size=(3, 30)), rng.integers(-1, 200, size=(3, 12))
    weights = np.stack([rng.random((3, 30)), rng.random((3, 30))]).astype(np.float32)
    dense = dense_table(table)
    assert dense is not None and dense_table(table, limit=100) is None
    expected = history_sums(table, hist, weights, cand)
    assert np.allclose(history_sums(table, hist, weights, cand, dense), expected, rtol=1e-3)  # rows copied first
    monkeypatch.setattr(cooccurrence, "ROW_GATHER_LIMIT", 0)
    assert np.allclose(history_sums(table, hist, weights, cand, dense), expected, rtol=1e-3)  # cells gathered


def test_history_sums_of_a_batch_split_by_its_users_match_a_dense_computation(monkeypatch):
    # A batch whose (user, candidate item) table would pass SLOT_LIMIT is summed in halves of its users.
    from scipy import sparse

    import ranker.model.cooccurrence as cooccurrence

    rng = np.random.default_rng(6)
    table = sparse.random(301, 301, density=0.05, format="csr", random_state=7, dtype=np.float32)
    hist, cand = rng.integers(-1, 300, size=(7, 40)), rng.integers(-1, 300, size=(7, 25))
    weights = rng.random((2, 7, 40)).astype(np.float32)
    whole = history_sums(table, hist, weights, cand)
    monkeypatch.setattr(cooccurrence, "SLOT_LIMIT", 30)
    split = history_sums(table, hist, weights, cand)
    dense = table.toarray()
    expected = np.einsum("kbh,bhc->kbc", weights, dense[(hist % 301)[:, :, None], (cand % 301)[:, None, :]])
    assert (
        split.shape == (2, 7, 25)
        and np.allclose(split, expected, atol=1e-5)
        and np.allclose(whole, expected, atol=1e-5)
    )


def test_history_sums_of_one_user_in_a_large_catalog_match_a_dense_computation():
    # Few entries read against a large table: the candidates are found by a search instead of a catalog-wide table.
    from scipy import sparse

    rng = np.random.default_rng(8)
    table = sparse.random(5001, 5001, density=0.0006, format="csr", random_state=9, dtype=np.float32)
    hist = rng.integers(0, 5000, size=(1, 6))
    cand = np.concatenate([table[hist[0]].indices[:5], rng.integers(-1, 5000, size=4)])[None]
    weights = rng.random((1, 6)).astype(np.float32)
    got = history_sums(table, hist, weights, cand)
    dense = table.toarray()
    expected = np.einsum("bh,bhc->bc", weights, dense[(hist % 5001)[:, :, None], (cand % 5001)[:, None, :]])
    assert (expected > 0).any() and np.allclose(got, expected, atol=1e-5)
