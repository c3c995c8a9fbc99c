"""Credit: what each answer served under an experiment earned, from the UBI events attributed to it.

Interleaving: an event on an item is credited to the team whose ranker placed the item there (the item's
``placed_by`` names that version); each answer (one query_id) then counts, per event type, the distinct items of each
team that got such an event. A/B: the answer's arm is the version that ranked it (``model_version``), and it counts
the distinct items with each event type and the revenue (the ``value`` of its purchases).

Pure functions over what :func:`ranker.feedback.attribute` and the sink's ``experiment_answers`` give.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ranker.experiments.interleave import CONTROL, TREATMENT
from ranker.experiments.store import Experiment
from ranker.feedback import AttributedEvent


@dataclass
class Outcome:
    """One answer (query_id) of the experiment: its arm (A/B; None when interleaved), and per team or arm the
    distinct items with each event type; ``revenue`` is the value of its purchases (all teams)."""

    query_id: str
    ts: datetime
    arm: str | None
    items: dict[str, dict[str, set]] = field(default_factory=dict)
    revenue: float = 0.0
    user: str | None = None  # the shopper (the answer's client_id; None: unknown)
    answers: int = 1  # answers merged into this outcome (:func:`per_shopper`)

    def count(self, team: str, event_type: str) -> int:
        """Distinct items of ``team`` (or of the arm) with an event of ``event_type``."""
        return len(self.items.get(team, {}).get(event_type, ()))

    def winner(self, event_type: str) -> str | None:
        """The team with more items of ``event_type`` (interleaving), ``tie`` when both got as many and some, None
        when neither got any."""
        c, t = self.count(CONTROL, event_type), self.count(TREATMENT, event_type)
        if c == t:
            return "tie" if c else None
        return TREATMENT if t > c else CONTROL


def team_of(experiment: Experiment, placed_by: str) -> str | None:
    """The team whose version ``placed_by`` names, None for anything else (retrieval past the ranked window)."""
    if placed_by == experiment.control:
        return CONTROL
    if placed_by == experiment.treatment:
        return TREATMENT
    return None


def credit(experiment: Experiment, answers: dict[str, tuple],
           events: Iterable[AttributedEvent], purchase_type: str = "purchase") -> list[Outcome]:  # fmt: skip
    """One :class:`Outcome` per answer of ``answers`` (query_id -> (model_version, time[, shopper])), oldest first,
    with the attributed ``events`` of those query_ids credited."""
    ab = experiment.mode == "ab"
    outcomes = {}
    for q, (version, ts, *shopper) in answers.items():
        arm = (CONTROL if version == experiment.control else TREATMENT) if ab else None
        outcomes[q] = Outcome(q, ts, arm, user=shopper[0] if shopper else None)
    for e in events:
        outcome = outcomes.get(e.query_id)
        if outcome is None:
            continue
        team = outcome.arm if ab else team_of(experiment, e.placed_by)
        if team is None:
            continue
        outcome.items.setdefault(team, defaultdict(set))[e.type].add(e.item_id)
        if e.type == purchase_type and e.value is not None:
            outcome.revenue += e.value
    return sorted(outcomes.values(), key=lambda o: (o.ts, o.query_id))


def per_shopper(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """One outcome per shopper, in the order of their first answer: the unit the experiment assigns (a returning
    shopper gets the same arm, or the same interleaving for the same query), so the unit its statistics count; an
    answer with no known shopper stays a unit of its own. A shopper's counts are the sums over their answers (an item
    clicked in two answers counts twice), ``answers`` how many were merged."""
    merged: dict[str, Outcome] = {}
    for o in outcomes:
        key = f"user:{o.user}" if o.user is not None else f"answer:{o.query_id}"
        unit = merged.get(key)
        if unit is None:
            unit = merged[key] = Outcome(o.query_id, o.ts, o.arm, user=o.user, answers=0)
        unit.answers += 1
        unit.revenue += o.revenue
        for team, kinds in o.items.items():
            for kind, ids in kinds.items():
                unit.items.setdefault(team, defaultdict(set))[kind].update((o.query_id, i) for i in ids)
    return list(merged.values())
