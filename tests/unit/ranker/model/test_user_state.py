"""The user's history state kept between requests (ranker.model.user_state) and the serving feature plan: the same
answers with and without the kept state, a new event changes the next answer, the LRU bound, and the serving
features equal the training function's."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import torch

from bench.synthetic_stats import synthetic_stats
from ranker.feedback.profiles import Interaction
from ranker.model.checkpoint import Checkpoint, SequencePart
from ranker.model.feature_plan import FeaturePlan
from ranker.model.features import FEATURE_NAMES, ITEM_FEATURES, USER_FEATURES, candidate_features
from ranker.model.item_vectors import ItemVectors
from ranker.model.network import AttentionRanker, RankerConfig
from ranker.model.scoring import Candidate, Scorer
from ranker.model.sequence import SequenceConfig, SequenceModel
from ranker.model.user_state import micros

NOW = datetime(2026, 1, 1, tzinfo=UTC)
N_ITEMS = 60


@pytest.fixture(scope="module")
def shop():
    """A model with every feature and a sequence model, over item statistics with co-occurrence counts."""
    rng = np.random.default_rng(3)
    ids = [f"i{i}" for i in range(N_ITEMS)]
    vectors = rng.normal(size=(N_ITEMS, 16)).astype(np.float32)
    items = ItemVectors.from_arrays(ids, vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
                                    prices=list(rng.uniform(1, 9, N_ITEMS)))  # fmt: skip
    names = (*FEATURE_NAMES, "sequence")
    torch.manual_seed(3)
    config = RankerConfig(item_dim=16, attention_dim=8, hidden_dim=8, num_features=len(names), feature_names=names,
                          history_length=6, feature_history=12)  # fmt: skip
    model = AttentionRanker(config).eval()
    with torch.no_grad():  # larger weights: every input moves the scores
        for p in model.parameters():
            p.mul_(3.0)
    sequence = SequencePart(SequenceModel(SequenceConfig(items=N_ITEMS, text_dim=16, dim=8, heads=2)).eval(), ids)
    return Checkpoint(
        model, "v1", synthetic_stats(ids, items.prices, seed=3, baskets=400, lines=4000), sequence=sequence
    ), items


def history(rng, n=15, minutes=None):
    rows = rng.integers(0, N_ITEMS + 3, n)  # ids past the table's are unknown items
    days = rng.uniform(0.01, 300, n)
    types = ["purchase", "view", "wish"]
    entries = [
        Interaction(f"i{j}", types[j % 3], NOW - timedelta(days=float(d))) for j, d in zip(rows, days, strict=True)
    ]
    if minutes is not None:  # in session: the sequence model's order is fused in
        entries[0] = Interaction(entries[0].item_id, "purchase", NOW - timedelta(minutes=minutes))
    return entries


def candidates(rng, n=20):
    rows = rng.permutation(N_ITEMS + 3)[:n]
    return [Candidate(f"i{j}", float(s)) for j, s in zip(rows, rng.random(n), strict=True)]


def answer(results):
    return [(r.id, r.score, [(e.item_id, e.type, e.weight) for e in r.explanations]) for r in results]


def test_same_inputs_give_the_same_answers_with_and_without_kept_states(shop):
    ck, items = shop
    kept, fresh = Scorer(ck, items, sequence_weight=4.0), Scorer(ck, items, sequence_weight=4.0, user_states=0)
    rng = np.random.default_rng(0)
    users = [history(rng, minutes=5), history(rng), history(rng, n=3), []]
    for _ in range(3):  # the second and third rounds score from kept states
        for h in users:
            cands = candidates(rng)
            for now in (NOW, NOW + timedelta(days=40)):  # another moment: other ages, recency buckets, decay
                assert answer(kept.score(h, cands, now=now)) == answer(fresh.score(h, cands, now=now))
    assert kept.states.hits > 0 and len(fresh.states) == 0


def test_a_new_event_changes_the_next_answer(shop):
    ck, items = shop
    scorer = Scorer(ck, items, sequence_weight=4.0)
    rng = np.random.default_rng(1)
    before, cands = history(rng, minutes=50), candidates(rng)
    first = answer(scorer.score(before, cands, now=NOW))
    vector = scorer.user_vector(before)
    assert answer(scorer.score(list(before), cands, now=NOW)) == first  # the same history read again: kept
    after = [Interaction(cands[-1].id, "purchase", NOW - timedelta(minutes=1)), *before]  # the event arrives
    second = answer(scorer.score(after, cands, now=NOW))
    assert second != first and not np.array_equal(scorer.user_vector(after), vector)
    assert second == answer(Scorer(ck, items, sequence_weight=4.0, user_states=0).score(after, cands, now=NOW))
    assert (scorer.states.hits, scorer.states.misses) == (3, 2)  # user_vector(before) and the repeat were kept


def test_the_kept_states_are_bounded_least_recently_used_out_first(shop):
    ck, items = shop
    scorer = Scorer(ck, items, user_states=2)
    rng = np.random.default_rng(2)
    a, b, c = history(rng), history(rng), history(rng)
    cands = candidates(rng)
    for h in (a, b, a, c):  # c pushes out b, the least recently used
        scorer.score(h, cands, now=NOW)
    assert len(scorer.states) == 2 and (scorer.states.hits, scorer.states.misses) == (1, 3)
    scorer.score(a, cands, now=NOW)
    assert scorer.states.hits == 2
    scorer.score(b, cands, now=NOW)
    assert scorer.states.misses == 4 and len(scorer.states) == 2


def test_threads_scoring_at_once_get_the_answers_of_one_thread(shop):
    ck, items = shop
    rng = np.random.default_rng(4)
    work = [(history(rng, minutes=3), candidates(rng)) for _ in range(6)]
    expected = [answer(Scorer(ck, items, user_states=0).score(h, c, now=NOW)) for h, c in work]
    scorer = Scorer(ck, items, user_states=3)  # smaller than the users: states are built and pushed out meanwhile
    got: dict[int, list] = {}

    def run(t: int) -> None:
        got[t] = [answer(scorer.score(h, c, now=NOW)) for h, c in work * 5]

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[t] == expected * 5 for t in range(4))


def test_ages_from_kept_times_equal_the_scorers_for_naive_aware_and_odd_timestamps(shop):
    ck, items = shop
    scorer = Scorer(ck, items)
    berlin = timezone(timedelta(hours=1))
    naive = [
        Interaction("i1", "purchase", datetime(2025, 12, 31, 12, 0, 0, 1)),
        Interaction("i3", "view", datetime(1999, 2, 3, 4, 5, 6, 789)),
        Interaction("i4", "view", datetime(2026, 1, 1, 3)),
    ]  # fmt: skip  (a future event: a negative age)
    aware = [Interaction("i2", "view", datetime(2025, 12, 31, 13, 0, tzinfo=berlin)),
             Interaction("i5", "view", datetime(2025, 6, 1, 13, 0, 0, 17, tzinfo=UTC))]  # fmt: skip
    for h in (naive, aware):
        state = scorer.state(h)
        for now in (NOW, NOW.replace(tzinfo=None), NOW.astimezone(berlin), NOW + timedelta(microseconds=3)):
            assert state.ages_days(micros(now)).tolist() == scorer._ages_days(h, now).tolist()


def test_serving_features_equal_the_training_function(shop):
    """FeaturePlan (item features from a table, user features kept, co-occurrence sums from the kept table) gives
    what candidate_features, which training calls, gives for the same user, including for a future event (the
    kept co-occurrence table does not apply there: the request sums its cells)."""
    ck, items = shop
    scorer = Scorer(ck, items)
    rng = np.random.default_rng(5)
    for n, future in ((15, False), (15, True), (2, False), (0, False)):
        h = history(rng, n=n)
        if future:
            h[3] = Interaction(h[3].item_id, "view", NOW + timedelta(days=2))
        cands = candidates(rng)
        served = scorer.inputs(h, cands, now=NOW).features
        known = [x for x in h[: ck.config.feature_history] if x.item_id in items]
        rows = items.rows([x.item_id for x in known])
        cand_rows = items.rows([c.id for c in cands])
        ages = scorer._ages_days(known, NOW)
        sequence = scorer.sequence_scores(h, cand_rows)
        expected = candidate_features(
            np.asarray([[c.retrieval_score for c in cands]]), cand_rows[None], rows[None],
            np.ones((1, len(rows)), dtype=bool), scorer.stats, ages[None], ck.config.features,
            sequence_scores=None if sequence is None else np.where(cand_rows >= 0, sequence, 0.0)[None],
        )[0]  # fmt: skip
        np.testing.assert_allclose(served, expected, rtol=1e-6, atol=1e-6)
        cooc = [ck.config.features.index(f) for f in ("cooc", "cooc_recent")]
        assert served[:, cooc].any() or n == 0  # the co-occurrence features are exercised


def test_item_and_user_features_are_what_their_names_say(shop):
    """The plan computes ITEM_FEATURES once per item and USER_FEATURES once per history: that is only right if the
    first depend on the candidate alone and the second are the same for every candidate."""
    ck, items = shop
    stats = Scorer(ck, items).stats
    names = tuple(FEATURE_NAMES)
    rng = np.random.default_rng(6)
    cand = rng.integers(-1, N_ITEMS, (1, 30))
    a, b = rng.integers(0, N_ITEMS, (1, 12)), rng.integers(0, N_ITEMS, (1, 5))
    one = candidate_features(rng.random((1, 30)), cand, a, np.ones_like(a, bool), stats, rng.random((1, 12)), names)
    two = candidate_features(rng.random((1, 30)), cand, b, np.ones_like(b, bool), stats, rng.random((1, 5)), names)
    item_cols = [names.index(n) for n in ITEM_FEATURES]
    np.testing.assert_array_equal(one[0][:, item_cols], two[0][:, item_cols])
    for n in USER_FEATURES:
        assert len(set(one[0][:, names.index(n)].tolist())) == 1
    plan = FeaturePlan(names, stats)
    assert plan.user_values(a[0]).tolist() == [one[0][0, names.index(n)] for n in names if n in USER_FEATURES]
