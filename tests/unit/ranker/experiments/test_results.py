"""``experiment_results`` (what the admin page shows) on the real store, SQLite and PostgreSQL: every experiment,
newest first, each measured from its own answers only, the same numbers as ``experiment_report``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.settings import Settings, StoreSettings
from core.store import open_store
from ranker.experiments import experiment_report, experiment_results, start_experiment, stop_experiment
from ranker.feedback import Impression, ProfileStore, StoreImpressions, shown
from ranker.feedback.events import EventIn
from ranker.model import registry


def _answers_and_clicks(engine, settings, experiment: str, n: int, treatment_every: int, start: datetime) -> None:
    """``n`` interleaved answers of ``experiment`` showing a (v1's) and b (v2's); one click each, on b except every
    ``treatment_every``-th answer."""
    answers, events = [], []
    for i in range(n):
        query_id = f"{experiment}-q{i}"
        ts = start + timedelta(seconds=i)
        answers.append(Impression(query_id, "recommend", f"u{i}", None, shown(["a", "b"], ["v1", "v2"]), "v1+v2", True,
                                  experiment=experiment, timestamp=ts))  # fmt: skip
        item = "a" if i % treatment_every == 0 else "b"
        events.append(EventIn(user_id=f"u{i}", item_id=item, type="click", ts=ts, query_id=query_id))
    StoreImpressions(lambda: engine).write(answers)
    ProfileStore(engine, settings).ingest(events)


def test_every_experiment_newest_first_each_from_its_own_answers(tmp_path, store_url):
    settings = Settings(store=StoreSettings(url=store_url), state_dir=tmp_path)
    engine = open_store(settings.store)
    assert experiment_results(settings) == []
    for version in ("v1", "v2"):
        (tmp_path / f"{version}.pt").write_bytes(version.encode())
        registry.register(engine, version, tmp_path / f"{version}.pt", {})
    now = datetime.now(UTC).replace(tzinfo=None)
    start_experiment(settings, "first", "v1", "v2")
    _answers_and_clicks(engine, settings, "first", 40, 4, now - timedelta(minutes=5))  # b 3 in 4: v2 wins
    stop_experiment(settings, "first")
    # served after the stop (a service notices it at its next check), and clicked: not part of the experiment
    late = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=5)
    StoreImpressions(lambda: engine).write([Impression("late-q", "recommend", "late-user", None,
        shown(["a", "b"], ["v1", "v2"]), "v1+v2", True, experiment="first", timestamp=late)])  # fmt: skip
    ProfileStore(engine, settings).ingest([EventIn(user_id="late-user", item_id="a", type="click", ts=late,
                                                   query_id="late-q")])  # fmt: skip
    assert "late-q" in StoreImpressions(lambda: engine).experiment_answers("first")  # recorded, but after the stop
    start_experiment(settings, "second", "v2", "v1", mode="ab", traffic=0.5)
    found = experiment_results(settings, engine)
    assert [(r.status.experiment.name, r.status.experiment.state, r.status.answers) for r in found] == [
        ("second", "running", 0), ("first", "stopped", 40)]  # fmt: skip
    first = found[1].report
    assert (first.win_rates[0].treatment_wins, first.win_rates[0].control_wins) == (30, 10)
    assert first.winner_version == "v2"
    assert first.to_dict() == experiment_report(settings, "first").to_dict()
    assert found[0].report.impressions == 0 and found[0].report.winner is None
