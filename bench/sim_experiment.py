"""One online experiment on simulated shoppers, in-process: fixed ranked lists of two rankers per shopper, the
shoppers of :mod:`bench.sim_shopper` acting on what is shown, and the product's own parts for everything an
experiment does (``ranker.experiments``): the team-draft interleaving with the service's coin (experiment, user,
``recommend``), the A/B arm of each user, the credit of each event to a team or arm, the report's curve (sign test
or Welch's t-test at each point) and ``significant_from``. No service and no HTTP: thousands of sessions a second, so
the figures of docs/experiments.md can repeat each experiment many times (``bench/bench_experiments.py``).

    run = simulate("interleave", control_lists, treatment_lists, shoppers, sessions=2000, seed=3)
    run.significant_from   # sessions after which p < alpha stayed so to the end (None: never)
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.sim_shopper import Preference, Shopper, act
from ranker.experiments import CONTROL, TREATMENT, Experiment, arm_of, credit, seed_of, team_draft
from ranker.experiments.report import curve
from ranker.experiments.stats import significant_from
from ranker.feedback import AttributedEvent

#: The versions the simulated experiment names (any two distinct names do).
CONTROL_VERSION, TREATMENT_VERSION = "sim-control", "sim-treatment"
_T0 = datetime(2030, 1, 1)


@dataclass(frozen=True)
class SimulatedRun:
    """One simulated experiment: when it became significant on clicks, and its final estimates."""

    mode: str
    sessions: int
    #: The number of sessions from which the p-value stayed below alpha to the end (None: not significant at the end).
    significant_from: int | None
    #: The better side on the final estimate when significant (control or treatment), else None.
    winner: str | None
    p_value: float
    #: Interleaving: win rate of treatment on clicks. A/B: clicks per answer, treatment minus control.
    estimate: float
    #: Per arm (A/B) or per team (interleaving): clicks, purchases and revenue per session.
    per_session: dict[str, dict[str, float]]


def simulate(
    mode: str,
    control: Mapping[str, Sequence[str]],
    treatment: Mapping[str, Sequence[str]],
    shoppers: Sequence[Shopper],
    sessions: int,
    *,
    seed: int = 0,
    k: int = 10,
    prices: Mapping[str, float | None] | None = None,
    pref: Preference | None = None,
    alpha: float = 0.05,
    points: int = 200,
) -> SimulatedRun:
    """``sessions`` sessions of ``shoppers`` (those with lists; each once in a seeded order, then again) under an
    experiment of ``mode`` (``interleave`` or ``ab``) between the ``control`` and ``treatment`` lists (user -> ids,
    best first; interleaving reads up to 2k+1 of each, as the service ranks). ``seed`` sets the shopper order, their
    randomness and the experiment's name (so the coins and the arms). The curve has up to ``points`` points: the
    resolution of ``significant_from``."""
    if mode not in ("interleave", "ab"):
        raise ValueError(f"mode must be interleave or ab; got {mode!r}")
    name = f"sim-{mode}-{seed}"
    experiment = Experiment(name, mode, CONTROL_VERSION, TREATMENT_VERSION, 1.0, "running", _T0)
    rng = random.Random(seed)
    order = [s for s in shoppers if s.user_id in control and s.user_id in treatment]
    if not order:
        raise ValueError("no shopper has lists of both rankers")
    rng.shuffle(order)
    answers: dict[str, tuple[str | None, datetime]] = {}
    events: list[AttributedEvent] = []
    for n in range(sessions):
        shopper = order[n % len(order)]
        user, query_id, ts = shopper.user_id, f"{name}-{n}", _T0 + timedelta(seconds=n)
        if mode == "interleave":
            deep = 2 * k + 1  # as deep as the service ranks each side for the draft
            mixed = team_draft(control[user][:deep], treatment[user][:deep], seed_of(name, user, "recommend"), k=k)
            ids, placed = mixed.ids, [experiment.version_of(t) for t in mixed.teams]
            answers[query_id] = (f"{CONTROL_VERSION}+{TREATMENT_VERSION}", ts, user)
        else:
            arm = arm_of(name, user)
            ids = tuple((control if arm == CONTROL else treatment)[user][:k])
            placed = [experiment.version_of(arm)] * len(ids)
            answers[query_id] = (experiment.version_of(arm), ts, user)
        for item, kind in act(shopper, ids, rng, pref or Preference()):
            place = ids.index(item)
            value = (prices or {}).get(item) if kind == "purchase" else None
            events.append(AttributedEvent(f"{query_id}-{len(events)}", user, kind, ts, query_id, item, place + 1,
                                          placed[place], value))  # fmt: skip
    outcomes = credit(experiment, answers, events)
    points_ = curve(outcomes, mode, "click", alpha, points=points)
    found = significant_from([(p.impressions, p.p_value) for p in points_], alpha)
    last = points_[-1]
    better = last.value > (0.5 if mode == "interleave" else 0.0)
    winner = (TREATMENT if better else CONTROL) if found is not None else None
    return SimulatedRun(mode, len(outcomes), found, winner, last.p_value, last.value, _per_session(outcomes, mode))


def _per_session(outcomes, mode: str) -> dict[str, dict[str, float]]:
    out = {}
    for side in (CONTROL, TREATMENT):
        mine = [o for o in outcomes if o.arm == side] if mode == "ab" else list(outcomes)
        n = max(len(mine), 1)
        out[side] = {"sessions": len(mine), "click": sum(o.count(side, "click") for o in mine) / n,
                     "purchase": sum(o.count(side, "purchase") for o in mine) / n}  # fmt: skip
        if mode == "ab":  # an interleaved answer's revenue is not split by team
            out[side]["revenue"] = sum(o.revenue for o in mine) / n
    return out
