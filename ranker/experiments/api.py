"""One function per `recadmin experiment` action (the CLI prints what they return; tests call them too)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from core.errors import ConfigError
from core.settings import Settings
from core.store import open_store
from ranker.experiments import store
from ranker.experiments.credit import credit
from ranker.experiments.report import ExperimentReport, build_report
from ranker.experiments.store import Experiment
from ranker.feedback import OpenSearchImpressions, attribute, sink_for
from ranker.model import verify_checkpoint


def start_experiment(settings: Settings, name: str, control: str, treatment: str, *, mode: str = "interleave",
                     traffic: float = 1.0) -> Experiment:  # fmt: skip
    """Start experiment ``name`` between two registered versions whose checkpoints are whole (an unknown version is
    an InputError naming the registered ones)."""
    engine = open_store(settings.store)
    for version in (control, treatment):
        verify_checkpoint(engine, version)
    return store.start(engine, name, control, treatment, mode, traffic)


def stop_experiment(settings: Settings, name: str) -> Experiment:
    """Stop the running experiment ``name``."""
    return store.stop(open_store(settings.store), name)


@dataclass(frozen=True)
class Status:
    """An experiment and how many answers were served under it so far."""

    experiment: Experiment
    answers: int


@dataclass(frozen=True)
class Result:
    """An experiment, its answers so far and its report (win rate or A/B differences, intervals, p-values)."""

    status: Status
    report: ExperimentReport


def experiment_status(settings: Settings, name: str | None = None) -> list[Status]:
    """``name``'s status, or every experiment's (None)."""
    engine = open_store(settings.store)
    found = [store.get(engine, name)] if name else store.list_all(engine)
    sink = _sink(settings, engine)
    return [Status(e, len(_answers(sink, e))) for e in found]


def experiment_report(settings: Settings, name: str) -> ExperimentReport:
    """The report of experiment ``name`` (running or stopped) from the recorded answers and attributed events."""
    engine = open_store(settings.store)
    experiment = store.get(engine, name)
    sink = _sink(settings, engine)
    return _measured(settings, experiment, sink, attribute(engine, sink).events).report


def _measured(settings: Settings, experiment: Experiment, sink, events) -> Result:
    """``experiment``'s answers (from ``sink``) credited with the attributed ``events`` that carry their query_ids."""
    answers = _answers(sink, experiment)
    outcomes = credit(experiment, answers, [e for e in events if e.query_id in answers])
    s = settings.experiments
    report = build_report(experiment, outcomes, alpha=s.alpha, bootstrap_samples=s.bootstrap_samples)
    return Result(Status(experiment, len(answers)), report)


def experiment_results(settings: Settings, engine: Engine | None = None) -> list[Result]:
    """Every experiment (running and stopped, newest first) with its report as of now: what the admin page shows.
    The events are attributed once for all of them. ``engine``: the caller's store (the service passes its own,
    which never migrates); else the settings' store is opened."""
    engine = engine or open_store(settings.store)
    found = store.list_all(engine)[::-1]
    if not found:
        return []
    sink = _sink(settings, engine)
    events = attribute(engine, sink).events
    return [_measured(settings, experiment, sink, events) for experiment in found]


def _answers(sink, experiment: Experiment) -> dict:
    """``experiment``'s recorded answers up to its stop: a service notices a stop at its next experiment check (every
    ``RECSEARCH_EXPERIMENTS_CHECK_S``, in the background), and what it served in between is not part of it."""
    answers = sink.experiment_answers(experiment.name)
    if experiment.stopped_at is None:
        return answers
    return {q: a for q, a in answers.items() if a[1] <= experiment.stopped_at}


def _sink(settings: Settings, engine):
    sink = sink_for(settings, lambda: engine)
    if sink is None:
        raise ConfigError("RECSEARCH_UBI_SINK is none: no answers are recorded, an experiment cannot be measured; "
                          "set it to store or opensearch")  # fmt: skip
    if isinstance(sink, OpenSearchImpressions) and sink.client.indices.exists(index=sink.index):
        sink.ensure_experiment_field()  # an index older than experiments: say so, or make it findable
        sink.refresh()
    return sink
