"""Team-draft interleaving and the A/B assignment: the known properties, over many random pairs of lists."""

from __future__ import annotations

import random

import pytest

from ranker.experiments import CONTROL, TREATMENT, arm_of, bucket, in_experiment, seed_of, team_draft


def _pairs(n: int = 300):
    rng = random.Random(7)
    for _ in range(n):
        items = [f"i{k}" for k in range(rng.randint(1, 30))]
        a = rng.sample(items, len(items))
        b = rng.sample(items, rng.randint(0, len(items)))
        yield a, b, rng.getrandbits(64)


@pytest.mark.parametrize("same_items", [True, False])
def test_no_item_twice_each_list_keeps_its_order_and_teams_stay_balanced(same_items):
    for a, b, seed in _pairs():
        if same_items:
            b = random.Random(seed).sample(a, len(a))
        mixed = team_draft(a, b, seed)
        assert len(mixed.ids) == len(set(mixed.ids)) == len(set(a) | set(b))
        for team, source in ((CONTROL, a), (TREATMENT, b)):
            picked = [i for i, t in zip(mixed.ids, mixed.teams, strict=True) if t == team]
            assert picked == [i for i in source if i in picked]  # a team's picks are in its own list's order
        # Every prefix is balanced within one while both lists have items left to give (always, on one item set).
        for n in range(1, len(mixed.ids) + 1):
            prefix = mixed.teams[:n]
            gap = abs(prefix.count(CONTROL) - prefix.count(TREATMENT))
            both_left = any(i not in mixed.ids[:n] for i in a) and any(i not in mixed.ids[:n] for i in b)
            if same_items or both_left:
                assert gap <= 1, (a, b, mixed)


def test_the_coin_is_fair_and_deterministic_per_experiment_user_and_query():
    a, b = ["x", "y", "z"], ["z", "y", "x"]
    first = [team_draft(a, b, seed_of("exp", f"u{n}", "q")).teams[0] for n in range(2000)]
    assert 0.45 < first.count(TREATMENT) / len(first) < 0.55
    again = [team_draft(a, b, seed_of("exp", f"u{n}", "q")).teams[0] for n in range(2000)]
    assert first == again
    assert team_draft(a, b, seed_of("exp", "u1", "q")).ids[0] in ("x", "z")


def test_k_cuts_the_list_and_one_empty_list_leaves_the_other():
    assert team_draft(["a", "b", "c"], ["c", "b", "a"], 1, k=2).ids.__len__() == 2
    mixed = team_draft(["a", "b"], [], 5)
    assert mixed.ids == ("a", "b") and mixed.teams == (CONTROL, CONTROL)


def test_identical_lists_show_that_list():
    a = [f"i{k}" for k in range(10)]
    for seed in range(50):
        assert list(team_draft(a, a, seed).ids) == a


def test_traffic_share_and_arms_are_stable_and_independent():
    users = [f"user-{n}" for n in range(5000)]
    inside = [u for u in users if in_experiment("e1", u, 0.3)]
    assert 0.27 < len(inside) / len(users) < 0.33
    assert all(in_experiment("e1", u, 0.6) for u in inside)  # more traffic keeps everyone who was in
    arms = [arm_of("e1", u) for u in inside]
    assert 0.45 < arms.count(TREATMENT) / len(arms) < 0.55
    assert arms == [arm_of("e1", u) for u in inside]
    assert [arm_of("e2", u) for u in inside] != arms  # another experiment draws other arms
    assert 0 <= bucket("x") < 1
