"""Fine-tuning pairs: one customer's items within a window, never from after the cutoff nor from held-out
customers, popular items damped; held-out customers; batches without repeats; the learning-rate plan."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd

from ranker.finetune.check import heldout_check
from ranker.finetune.data import batches_without_repeats, behaviour_pairs, history_examples, holdout_users
from ranker.finetune.loop import _Plan
from tests.fakes.evaluation import events

LOG = events([
    ("u1", "a", "2024-01-01"), ("u1", "b", "2024-01-01"),  # a+b in one basket
    ("u2", "a", "2024-01-02"), ("u2", "b", "2024-01-02"),
    ("u1", "c", "2024-01-10"),  # a -> c and b -> c: u1's history within the window
    ("u1", "d", "2024-02-25"),  # 46 days after u1's previous basket: outside a 30-day window
    ("u4", "e", "2024-01-05"), ("u4", "f", "2024-01-05"),  # only u4 bought e and f
    ("u3", "x", "2024-06-01"), ("u3", "y", "2024-06-01"),  # after the cutoff
])  # fmt: skip
ITEMS = ["a", "b", "c", "d", "e", "f", "x", "y"]
CUTOFF = pd.Timestamp("2024-03-01")


def _unordered(pairs):
    return {frozenset(p) for p in pairs}


def test_pairs_are_one_customers_items_within_the_window_before_the_cutoff():
    ps = behaviour_pairs(LOG, ITEMS, until=CUTOFF, window_days=30, max_pairs=100)
    assert _unordered(ps.pairs) == {frozenset("ab"), frozenset("ac"), frozenset("bc"), frozenset("ef")}
    assert len(ps.pairs) == len(_unordered(ps.pairs))  # distinct pairs, never an item with itself
    later = behaviour_pairs(LOG, ITEMS, window_days=30, max_pairs=100)
    assert frozenset("xy") in _unordered(later.pairs)
    wide = behaviour_pairs(LOG, ITEMS, until=CUTOFF, window_days=60, max_pairs=100)
    assert frozenset("cd") in _unordered(wide.pairs)


def test_held_out_customers_give_no_pairs_and_unknown_items_none_at_all():
    ps = behaviour_pairs(LOG, ITEMS, until=CUTOFF, exclude_users={"u4"}, max_pairs=100)
    assert frozenset("ef") not in _unordered(ps.pairs)
    assert behaviour_pairs(LOG, ["zz"]).pairs == []


def test_best_sellers_are_damped():
    # "hit" is in every basket of 200 customers; each customer also buys one item of their own.
    rows = []
    for u in range(200):
        rows += [(f"u{u}", "hit", "2024-01-01"), (f"u{u}", f"own{u}", "2024-01-01"), (f"u{u}", f"b{u}", "2024-01-02")]
    log = events(rows)
    items = sorted(set(log["item_id"]))
    as_bought = Counter(x for p in behaviour_pairs(log, items, max_pairs=300, damping=0.0).pairs for x in p)
    damped = Counter(x for p in behaviour_pairs(log, items, max_pairs=300, damping=1.0).pairs for x in p)
    assert damped["hit"] < as_bought["hit"]


def test_holdout_customers_bought_before_and_inside_the_window_before_the_cutoff():
    cases = holdout_users(LOG, ITEMS, until=CUTOFF, horizon_days=30, n_users=10, max_share=1.0)
    assert [c.user_id for c in cases] == ["u1"]  # u1: history a, b, c; then d inside [Jan 31, Mar 1)
    assert sorted(cases[0].history) == ["a", "b", "c"] and cases[0].targets == ["d"]
    assert holdout_users(LOG, ITEMS, until=CUTOFF, horizon_days=30, n_users=10, max_share=0.1) == []


def test_history_examples_are_the_time_split_at_each_later_basket():
    ex = history_examples(LOG, ITEMS, until=CUTOFF, horizon_days=30, max_examples=100)

    def names(rows):
        return sorted(ITEMS[i] for i in rows)

    got = sorted(
        (names(ex.history[ex.history_start[k] : ex.history_start[k + 1]]),
         names(ex.targets[ex.target_start[k] : ex.target_start[k + 1]]))
        for k in range(len(ex))
    )  # fmt: skip
    # u1 cuts at Jan 10 (next 30 days: c) and Feb 25 (d); first baskets and u3's June basket give none.
    assert got == [(["a", "b"], ["c"]), (["a", "b", "c"], ["d"])] and ex.users == 1
    assert len(history_examples(LOG, ITEMS, until=CUTOFF, exclude_users={"u1"})) == 0


def test_heldout_check_ranks_the_catalog_by_the_history_mean():
    cases = holdout_users(LOG, ITEMS, until=CUTOFF, horizon_days=30, n_users=10, max_share=1.0)
    vectors = np.eye(len(ITEMS))
    near = vectors.copy()
    near[ITEMS.index("d")] = (vectors[0] + vectors[1] + vectors[2]) / np.sqrt(3)  # d right at the mean of a, b, c
    far = heldout_check(vectors, ITEMS, cases, [("a", "b")])
    close = heldout_check(near, ITEMS, cases, [("a", "b")])
    assert close["history_mean_ndcg@10"] == 1.0 and close["history_mean_ndcg@10_excluded"] == 1.0
    assert far["history_mean_ndcg@10"] < close["history_mean_ndcg@10"]


def test_batches_never_repeat_an_item_and_cover_the_pairs():
    pairs = [("a", "b"), ("a", "c"), ("d", "e"), ("b", "f"), ("g", "h"), ("i", "a")]
    batches = list(batches_without_repeats(pairs, batch_size=3, seed=0))
    for batch in batches:
        items = [x for i in batch for x in pairs[i]]
        assert len(items) == len(set(items))
    used = [i for b in batches for i in b]
    assert len(used) == len(set(used))
    # Three pairs share "a": they need three batches; a last lone pair is dropped (it would have no negative).
    assert len(used) >= len(pairs) - 1 and len(batches) >= 2


def test_learning_rate_plan_fits_the_steps_the_time_budget_allows():
    plan = _Plan(max_steps=1000, warmup_fraction=0.1)
    plan.observe(steps=1, step_s=2.0, seconds_left=199.0)  # 2 s a step, ~100 steps left
    assert plan.total == 100
    factors = [plan.factor(s) for s in range(plan.total + 1)]
    assert factors.index(max(factors)) == 9 and max(factors) == 1.0  # warm-up: 10% of the planned steps
    assert factors[-1] == 0.0 and all(a >= b for a, b in itertools.pairwise(factors[9:]))
    plan.observe(steps=1, step_s=0.001, seconds_left=10_000.0)
    assert plan.total <= 1000  # never more than the step budget
