"""Checking a shown list against team-draft interleaving: used by the service's and the plugin's tests, which see
only the answer (ids and the version that placed each) and the two versions' own lists."""

from __future__ import annotations

from collections.abc import Sequence


def team_draft_violation(ids: Sequence[str], placed_by: Sequence[str], lists: dict[str, Sequence[str]]) -> str | None:
    """Why ``ids`` (each placed by the version in ``placed_by``) is not a team draft of ``lists`` (version -> its
    own order, best first), or None when it is one: each pick is the picking team's best item not shown above it,
    and the team with fewer picks picks next (either one on a tie), unless its list has nothing left."""
    seen: set[str] = set()
    picks = dict.fromkeys(lists, 0)
    for place, (item, team) in enumerate(zip(ids, placed_by, strict=True)):
        if team not in lists:
            return f"place {place + 1}: {item} placed by {team}, not one of {sorted(lists)}"
        left = {t: next((i for i in order if i not in seen), None) for t, order in lists.items()}
        behind = [t for t in lists if picks[t] < max(picks.values()) and left[t] is not None]
        if behind and team not in behind:
            return f"place {place + 1}: {team} picked while {behind[0]} had fewer picks"
        if item != left[team]:
            return f"place {place + 1}: {team} picked {item}, its best item not yet shown is {left[team]}"
        seen.add(item)
        picks[team] += 1
    return None
