"""Serving under an online experiment (docs/experiments.md): for a user the running experiment covers, both of its
ranker versions order the same candidates and the answer is their team-draft interleaving (each item marked with the
version that placed it), or, in A/B mode, the order of the user's arm. Everyone else, and every request while no
experiment runs, gets :func:`ranker.service.ranking.rank` as before: the only cost is
:meth:`ServiceDeps.running_experiment`, a cached read.

An answer that could not be personalized (no history, the profile store or a version down) is served as usual and
is not part of the experiment: neither ranker ordered it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from core.errors import ComponentUnavailable
from ranker.experiments import CONTROL, TREATMENT, Experiment, arm_of, in_experiment, seed_of, team_draft
from ranker.service.deps import ServiceDeps
from ranker.service.metrics import ServiceMetrics
from ranker.service.ranking import NoHistory, Ranking, load_history, rank

log = logging.getLogger("recsearch.service")


def experiment_for(deps: ServiceDeps, user_id: str | None) -> Experiment | None:
    """The running experiment when it covers ``user_id`` (its ``traffic`` share of users), else None."""
    if not user_id:
        return None
    found = deps.running_experiment()
    return found if found is not None and in_experiment(found.name, user_id, found.traffic) else None


def rank_for(
    deps: ServiceDeps,
    user_id: str | None,
    hits: Sequence[tuple[str, float]],
    *,
    query: str,
    history: list | NoHistory | None = None,
    metrics: ServiceMetrics | None = None,
    limit: int | None = None,
    query_order: bool = False,
    shown: Callable[[Ranking], Ranking] | None = None,
) -> Ranking:
    """:func:`rank`, or the experiment's answer for a user it covers. ``query`` keys the interleaving's coin with
    the experiment and the user: the same request gets the same list every time.

    ``shown``: what the caller does to a ranker's order before the shopper sees it (the plugin's blend with
    OpenSearch's scores, :func:`ranker.service.blend.blended`). It is applied to each version's ranking before the
    team draft, so the interleaving mixes the two lists as the shopper would see them, and the answer is the shown
    order itself, each result with its own shown score."""
    experiment = experiment_for(deps, user_id)
    args = dict(metrics=metrics, limit=limit, query_order=query_order)
    show = shown or (lambda ranking: ranking)
    if experiment is None:
        return show(rank(deps, user_id, hits, history=history, **args))
    try:
        rankers = {team: deps.ranker_of(experiment.version_of(team)) for team in (CONTROL, TREATMENT)}
    except ComponentUnavailable as e:  # the experiment cannot run here: the active version answers
        log.warning("experiment %s not served: %s", experiment.name, e)
        return show(rank(deps, user_id, hits, history=history, **args))
    if history is None:
        history = load_history(deps, user_id, metrics)  # read once for both rankers
    if experiment.mode == "ab":
        team = arm_of(experiment.name, str(user_id))
        ranking = show(rank(deps, user_id, hits, history=history, ranker=rankers[team], **args))
        return _marked(ranking, experiment, [experiment.version_of(team)] * len(ranking.results))
    # Each side ranks deep enough for the draft: a team skips at most the other's picks.
    deep = dict(args, limit=None if limit is None else 2 * limit + 1)
    control = show(rank(deps, user_id, hits, history=history, ranker=rankers[CONTROL], **deep))
    if not control.personalized:
        return _cut(control, limit)
    treatment = show(rank(deps, user_id, hits, history=history, ranker=rankers[TREATMENT], **deep))
    if not treatment.personalized:
        return _cut(control, limit)
    mixed = team_draft([r.id for r in control.results], [r.id for r in treatment.results],
                       seed_of(experiment.name, user_id, query), k=limit)  # fmt: skip
    by_team = {CONTROL: {r.id: r for r in control.results}, TREATMENT: {r.id: r for r in treatment.results}}
    n = len(mixed.ids)
    if shown is not None:
        # The caller shows this order as it is: each result keeps its shown score in its own team's list.
        results = [by_team[team][i] for i, team in zip(mixed.ids, mixed.teams, strict=True)]
    else:
        # Scores fall with the place (the two rankers' scores are not on one scale): whoever orders by score
        # keeps the interleaved order (an older plugin's blend does not: it reorders by OpenSearch's scores too).
        results = [dataclasses.replace(by_team[team][i], score=1.0 - p / max(n, 1))
                   for p, (i, team) in enumerate(zip(mixed.ids, mixed.teams, strict=True))]  # fmt: skip
    ranking = Ranking(results, True, None, f"{experiment.control}+{experiment.treatment}", control.history_ids)
    return _marked(ranking, experiment, [experiment.version_of(t) for t in mixed.teams])


def _marked(ranking: Ranking, experiment: Experiment, teams: list[str]) -> Ranking:
    if not ranking.personalized:
        return ranking  # retrieval order or popularity: no ranker of the experiment placed anything
    return dataclasses.replace(ranking, experiment=experiment.name, teams=teams)


def _cut(ranking: Ranking, limit: int | None) -> Ranking:
    return dataclasses.replace(ranking, results=ranking.results[:limit])
