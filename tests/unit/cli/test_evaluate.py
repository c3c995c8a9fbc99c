"""`recadmin evaluate` / `recadmin finetune` errors, and the report files."""

from __future__ import annotations

import json

import pytest

from cli.main import run
from core.errors import InputError
from core.settings import get_settings
from ranker.evaluation import parse_indexes
from ranker.evaluation.report import write_reports


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSEARCH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_MAX_RETRIES", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("error:")
    return err


def test_index_specs():
    assert parse_indexes([], "items") == {"base": "items"}
    assert parse_indexes(["base=items", "ft=items-ft", "other"], "x") == {"base": "items", "ft": "items-ft",
                                                                          "other": "other"}  # fmt: skip
    with pytest.raises(InputError, match="--index 'a='"):
        parse_indexes(["a="], "items")
    with pytest.raises(InputError):
        parse_indexes(["a=x", "a=y"], "items")


def test_bad_index_spec_is_one_line(capsys):
    assert run(["evaluate", "--index", "=items"]) == 1
    assert "bad --index '=items'" in one_error_line(capsys)


def test_unreachable_cluster_is_one_line(capsys, tmp_path):
    assert run(["evaluate", "--reports-dir", str(tmp_path)]) == 1
    assert "cannot reach OpenSearch" in one_error_line(capsys)
    assert run(["finetune", "--max-steps", "1"]) == 1
    assert "cannot reach OpenSearch" in one_error_line(capsys)


def test_missing_events_file_is_one_line(capsys, tmp_path, monkeypatch):
    from ranker.feedback.frames import events_frame_from_file

    with pytest.raises(InputError, match="nope.parquet: event file does not exist"):
        events_frame_from_file(tmp_path / "nope.parquet")
    monkeypatch.setenv("RECSEARCH_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    assert run(["train", "--events", str(tmp_path / "nope.parquet")]) == 1
    assert "nope.parquet: event file does not exist" in one_error_line(capsys)


def test_reports_are_json_and_html_with_plots(tmp_path):
    row = lambda name, kind, v: {"name": name, "kind": kind, "seconds": 0.1, "metrics": {  # noqa: E731
        **{f"{m}@{k}": v for m in ("ndcg", "recall", "hr", "mrr", "map", "precision", "f1", "coverage")
           for k in (5, 10)}}}  # fmt: skip
    best, model = row("co-occurrence", "baseline", 0.1), row("attention[base]", "model", 0.2)
    model["vs_best_baseline"] = {"ndcg@10": {"diff": 0.1, "low": 0.05, "high": 0.15, "relative": 1.0}}
    run_ = {"split": "time", "mode": "eligible", "protocol": "full", "cases": 3, "targets": 5, "repeat_targets": 2,
            "best_baseline": "co-occurrence", "rows": [best, model],
            "by_activity": {"1-4": {"cases": 2, "co-occurrence": 0.1, "attention[base]": 0.3},
                            "5-19": {"cases": 1, "co-occurrence": 0.2, "attention[base]": 0.1}}}  # fmt: skip
    result = {"config": {"ks": [5, 10], "primary": "ndcg@10"}, "events": {}, "catalog": {}, "splits": [],
              "runs": [run_]}  # fmt: skip
    json_path, html_path = write_reports(result, tmp_path / "reports", "r1")
    assert json.loads(json_path.read_text())["runs"][0]["best_baseline"] == "co-occurrence"
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 2  # metric@K curves and results by activity
    assert "attention[base]" in page and "+0.1000 [+0.0500, +0.1500]" in page
    table = (tmp_path / "reports" / "r1.md").read_text()
    assert "| attention[base] | 0.2000 |" in table and "+0.1000 [+0.0500, +0.1500] (+100.0%)" in table


def test_bad_split_and_peer_settings_are_one_line(capsys, monkeypatch):
    assert run(["evaluate", "--split", "last"]) == 1
    assert "field 'split': unknown split 'last'" in one_error_line(capsys)
    monkeypatch.setenv("RECSEARCH_EVAL_PEER_EPOCHS", "0")
    get_settings.cache_clear()
    assert run(["evaluate", "--split", "last-item"]) == 1
    assert "RECSEARCH_EVAL_PEER_EPOCHS must be at least 1" in one_error_line(capsys)
    assert run(["evaluate", "--split", "time", "--no-peers"]) == 1  # no peers asked for: their settings unread
    assert "cannot reach OpenSearch" in one_error_line(capsys)
