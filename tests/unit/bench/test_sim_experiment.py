"""The in-process experiment of the docs' figures (bench/sim_experiment.py) on small made-up shops: it names a
clearly better ranker in both modes, interleaving sooner than A/B; two identical rankers are not told apart; A/B
revenue is the catalog's prices of what was bought; and the noisy control of bench_experiments is a fixed ranker
that grows worse with its level."""

from __future__ import annotations

import statistics

import pytest

from bench.bench_experiments import noisy, summary
from bench.sim_experiment import simulate
from bench.sim_shopper import Shopper

ITEMS = [f"i{n}" for n in range(60)]


def _shop(users: int = 400):
    """Each shopper wants 3 items (the tests run each shopper at most once: a shopper who comes back sees the same
    list, so their sessions are not independent); ``good`` lists them first, ``bad`` never shows them in its top 21."""
    shoppers, good, bad = [], {}, {}
    for u in range(users):
        wanted = [ITEMS[(u * 7 + j * 11) % len(ITEMS)] for j in range(3)]
        rest = [i for i in ITEMS if i not in wanted]
        shoppers.append(Shopper(f"u{u}", frozenset(wanted)))
        good[f"u{u}"] = wanted + rest
        bad[f"u{u}"] = rest[:30] + wanted + rest[30:]
    return shoppers, good, bad


@pytest.mark.parametrize("mode", ["interleave", "ab"])
def test_a_clearly_better_ranker_is_named_in_both_modes(mode):
    shoppers, good, bad = _shop()
    run = simulate(mode, bad, good, shoppers, 400, seed=1)
    assert run.sessions == 400
    assert run.winner == "treatment" and run.p_value < 0.05 and run.significant_from is not None
    swapped = simulate(mode, good, bad, shoppers, 400, seed=1)
    assert swapped.winner == "control"


def test_interleaving_needs_fewer_sessions_than_ab_on_the_same_shoppers():
    shoppers, good, _ = _shop(1500)
    # a close pair: the control shows the wanted items a few places lower
    close = {u: ids[3:6] + ids[:3] + ids[6:] for u, ids in good.items()}
    needed = {}
    for mode in ("interleave", "ab"):
        runs = [simulate(mode, close, good, shoppers, 1500, seed=s) for s in range(8)]
        needed[mode] = statistics.median(r.significant_from or 10**9 for r in runs)
    assert needed["interleave"] < needed["ab"], needed


@pytest.mark.parametrize("mode", ["interleave", "ab"])
def test_identical_rankers_are_rarely_told_apart(mode):
    shoppers, good, _ = _shop()
    runs = [simulate(mode, good, dict(good), shoppers, 300, seed=s) for s in range(40)]
    named = sum(r.winner is not None for r in runs)
    assert named <= 6, named  # alpha 0.05: 6 or more of 40 has a chance under 4% when the rate is 0.05
    if mode == "interleave":  # each team gets its first pick half of the time: no side is favoured
        assert 0.4 < statistics.mean(r.estimate for r in runs) < 0.6


def test_ab_revenue_is_the_price_of_what_was_bought():
    shoppers, good, bad = _shop()
    prices = {i: 2.5 for i in ITEMS}
    run = simulate("ab", bad, good, shoppers, 300, seed=2, prices=prices)
    for side in ("control", "treatment"):
        s = run.per_session[side]
        assert s["revenue"] == pytest.approx(2.5 * s["purchase"])
    assert run.per_session["treatment"]["revenue"] > run.per_session["control"]["revenue"]
    unpriced = simulate("ab", bad, good, shoppers, 300, seed=2, prices={})
    assert unpriced.per_session["treatment"]["purchase"] > 0 and unpriced.per_session["treatment"]["revenue"] == 0


def test_noisy_control_is_a_fixed_ranker_worse_with_its_level():
    _, good, _ = _shop()
    scored = {u: [(i, float(len(ids) - n)) for n, i in enumerate(ids)] for u, ids in good.items()}
    assert noisy(scored, 0.0, seed=1) == good
    assert noisy(scored, 0.5, seed=1) == noisy(scored, 0.5, seed=1)

    def overlap(lists):
        return statistics.mean(len(set(lists[u][:10]) & set(good[u][:10])) for u in good)

    assert 10 > overlap(noisy(scored, 0.1, seed=1)) > overlap(noisy(scored, 1.0, seed=1)) > 0


def test_summary_counts_a_run_that_named_the_worse_ranker_as_not_reached():
    shoppers, good, bad = _shop()
    runs = [simulate("interleave", good, bad, shoppers, 300, seed=s) for s in range(3)]  # the treatment is worse
    s = summary(runs, 300)
    assert s["reached_better"] == 0 and s["named_worse"] == 1 and s["median_sessions"] is None
