"""The evaluation reports folder as the admin page reads it: only HTML files directly in it are listed, newest first,
and a report is found by a listed name only (no path traversal, no links out of the folder)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from core.reports import find_report, list_reports


def _report(folder, name, generated=None):
    (folder / f"{name}.html").write_text(f"<h1>{name}</h1>")
    if generated:
        (folder / f"{name}.json").write_text(json.dumps({"generated": generated}))


def test_lists_the_html_reports_in_the_folder_newest_first(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    _report(reports, "old", "2025-01-02 03:04:05 UTC")
    _report(reports, "new", "2026-02-03 04:05:06 UTC")
    _report(reports, "no-twin")  # no JSON: its file time
    os.utime(reports / "no-twin.html", (0, 86400))
    (reports / "notes.md").write_text("# not a report")
    (reports / ".hidden.html").write_text("x")
    (reports / "sub").mkdir()
    _report(reports / "sub", "nested")
    found = list_reports(reports)
    assert [r.name for r in found] == ["new", "old", "no-twin"]
    assert found[0].generated == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert found[2].generated == datetime(1970, 1, 2, tzinfo=UTC)
    assert found[0].size == len("<h1>new</h1>")
    assert list_reports(tmp_path / "missing") == []


def test_a_report_is_found_by_its_listed_name_only(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    _report(reports, "run1")
    (tmp_path / "secret.html").write_text("outside")
    (reports / "link.html").symlink_to(tmp_path / "secret.html")  # a link out of the folder is not a report
    (reports / "inner.html").symlink_to(reports / "run1.html")  # a link within it is
    assert find_report(reports, "run1").html == reports / "run1.html"
    assert find_report(reports, "inner") is not None
    for name in ("../secret", "..", "link", "run1.html", "/etc/passwd", "sub/../run1", "RUN1", ""):
        assert find_report(reports, name) is None, name
