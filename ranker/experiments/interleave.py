"""Team-draft interleaving (Radlinski, Kurup and Joachims, CIKM 2008) of two ranked lists.

Two teams, control and treatment, pick in turns like captains choosing players: in each round a coin says which
team picks first, and each picks its highest-ranked item not already in the list. The list shown is the order of the
picks; every item remembers the team that picked it, and a click on it is credited to that team. Because the coin
makes each team equally likely to pick first, a shopper who clicks at random (or only by position) credits both
teams equally: a preference for one team's items is a preference for that ranker.

Properties the tests check: every prefix holds as many items of one team as of the other, or one more (while both
lists still have items to give); no item twice; each list's items keep their relative order. The coin is drawn
from :func:`seed_of` (experiment name + user + query), so one user sees the same list for one query every time.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

CONTROL, TREATMENT = "control", "treatment"


def seed_of(*parts: str | None) -> int:
    """A stable 64-bit seed of ``parts`` (the same on every machine and Python run: not ``hash()``)."""
    text = "\x1f".join(p or "" for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Interleaved:
    """The list to show, and the team (:data:`CONTROL` or :data:`TREATMENT`) that placed each of its items."""

    ids: tuple[str, ...]
    teams: tuple[str, ...]


def team_draft(control: Sequence[str], treatment: Sequence[str], seed: int, k: int | None = None) -> Interleaved:
    """The team-draft interleaving of ``control`` and ``treatment`` (best first), at most ``k`` items (all of both
    when None). When one list runs out, the other fills the rest."""
    rng = random.Random(seed)
    lists = {CONTROL: list(control), TREATMENT: list(treatment)}
    cursor = {CONTROL: 0, TREATMENT: 0}
    picked = {CONTROL: 0, TREATMENT: 0}
    limit = len(set(control) | set(treatment)) if k is None else k
    ids: list[str] = []
    teams: list[str] = []
    seen: set[str] = set()

    def next_of(team: str) -> str | None:
        items, n = lists[team], cursor[team]
        while n < len(items) and items[n] in seen:
            n += 1
        cursor[team] = n
        return items[n] if n < len(items) else None

    while len(ids) < limit:
        left = {team: next_of(team) for team in (CONTROL, TREATMENT)}
        if left[CONTROL] is None and left[TREATMENT] is None:
            break
        if picked[CONTROL] != picked[TREATMENT]:
            team = CONTROL if picked[CONTROL] < picked[TREATMENT] else TREATMENT
        else:
            team = CONTROL if rng.random() < 0.5 else TREATMENT  # the coin of this round: who picks first
        if left[team] is None:
            team = TREATMENT if team == CONTROL else CONTROL
        item = left[team]
        assert item is not None
        ids.append(item)
        teams.append(team)
        seen.add(item)
        picked[team] += 1
    return Interleaved(tuple(ids), tuple(teams))
