"""`recadmin experiment` on the real store (SQLite and PostgreSQL): start, status, stop and report, and the one-line
errors for an unknown version, a second running experiment, a name used before, and bad options."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cli.main import run
from core.settings import StoreSettings, get_settings
from core.store import open_store
from ranker.experiments import running
from ranker.feedback import Impression, ProfileStore, StoreImpressions, shown
from ranker.feedback.events import EventIn
from ranker.model import registry


@pytest.fixture
def cli_store(monkeypatch, tmp_path, store_url):
    monkeypatch.setenv("RECSEARCH_STORE_URL", store_url)
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    engine = open_store(StoreSettings(url=store_url))
    for version in ("v1", "v2"):
        path = tmp_path / f"{version}.pt"
        path.write_bytes(version.encode())
        registry.register(engine, version, path, {})
    yield engine
    get_settings.cache_clear()


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # one line, no traceback
    return lines[0]


def test_start_status_stop_and_the_errors(cli_store, capsys):
    assert run(["experiment", "start", "e1", "--control", "v1", "--treatment", "v9"]) != 0
    assert "no ranker version 'v9' (registered: v1, v2)" in _error(capsys)
    assert run(["experiment", "start", "e1", "--control", "v1", "--treatment", "v1"]) != 0
    assert "field 'treatment'" in _error(capsys)
    assert run(["experiment", "start", "e1", "--control", "v1", "--treatment", "v2", "--traffic", "1.5"]) != 0
    assert "field 'traffic'" in _error(capsys)
    assert run(["experiment", "start", "e1", "--control", "v1", "--treatment", "v2", "--mode", "bandit"]) != 0
    assert "field 'mode'" in _error(capsys)
    assert run(["experiment", "start", "e1", "--control", "v1", "--treatment", "v2", "--traffic", "0.5"]) == 0
    assert "experiment e1 started" in capsys.readouterr().out
    assert running(cli_store).name == "e1"
    assert run(["experiment", "start", "e2", "--control", "v2", "--treatment", "v1"]) != 0
    assert "experiment 'e1' is running: stop it first" in _error(capsys)
    assert run(["experiment", "status"]) == 0
    assert "e1" in capsys.readouterr().out
    assert run(["experiment", "stop", "e1"]) == 0 and running(cli_store) is None
    capsys.readouterr()
    assert run(["experiment", "stop", "e1"]) != 0
    assert "is not running" in _error(capsys)
    assert run(["experiment", "start", "e1", "--control", "v1", "--treatment", "v2"]) != 0
    assert "exists already" in _error(capsys)
    assert run(["experiment", "report", "nope"]) != 0
    assert "no experiment 'nope' (known: e1)" in _error(capsys)


def test_report_credits_recorded_answers_and_writes_html_and_json(cli_store, tmp_path, capsys):
    assert run(["experiment", "start", "e1", "--control", "v1", "--treatment", "v2"]) == 0
    now = datetime.now(UTC).replace(tzinfo=None)
    answers, events = [], []
    for n in range(40):
        query_id = f"q{n}"
        answers.append(Impression(query_id, "recommend", f"u{n}", None, shown(["a", "b"], ["v1", "v2"]), "v1+v2",
                                  True, experiment="e1", timestamp=now + timedelta(seconds=n)))  # fmt: skip
        clicked = "b" if n % 4 else "a"  # the treatment's item three times in four
        events.append(EventIn(user_id=f"u{n}", item_id=clicked, type="click", ts=now + timedelta(seconds=n),
                              query_id=query_id))  # fmt: skip
    StoreImpressions(lambda: cli_store).write(answers)
    ProfileStore(cli_store, get_settings()).ingest(events)
    html, data = tmp_path / "new" / "r.html", tmp_path / "r.json"  # a folder that is not there yet is made
    assert run(["experiment", "report", "e1", "--html", str(html), "--json", str(data)]) == 0
    assert "v2 (treatment) is better after 40 answers from 40 shoppers" in capsys.readouterr().out
    found = json.loads(data.read_text())
    assert found["win_rates"][0]["treatment_wins"] == 30 and found["win_rates"][0]["control_wins"] == 10
    assert "data:image/png;base64," in html.read_text()
    assert run(["experiment", "status", "e1"]) == 0 and "40" in capsys.readouterr().out
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert run(["experiment", "report", "e1", "--html", str(blocked / "r.html")]) != 0  # one line, no traceback
    assert f"cannot write the report to {blocked / 'r.html'}" in _error(capsys)
