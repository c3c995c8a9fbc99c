"""The evaluation reports folder (``RECSEARCH_EVAL_REPORTS_DIR``), read: which reports it holds, and a
report's HTML file by its listed name only.

``recadmin evaluate`` writes ``<name>.json``, ``<name>.html`` and ``<name>.md`` there
(``ranker.evaluation.report.write_reports``); the service's admin page lists them and serves the HTML. The listing
lives here, below both, because the service and the evaluation are independent layers (pyproject.toml's
import contracts).

A name is served only when it is one the listing holds: the name from a URL is looked up, never joined to the
folder, so ``..``, slashes, links out of the folder or files of other kinds are never read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class ReportFile:
    """One evaluation report in the folder."""

    name: str  # the file name without ``.html``
    html: Path
    generated: datetime  # the report's own ``generated`` stamp, else the HTML file's modification time (UTC)
    size: int  # bytes of the HTML file


def _generated(html: Path) -> datetime:
    """The ``generated`` stamp of the report's JSON twin (``2026-01-02 03:04:05 UTC``), else the file's mtime."""
    twin = html.with_suffix(".json")
    try:
        with twin.open() as f:
            stamp = json.load(f).get("generated", "")
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    except (OSError, ValueError, TypeError, AttributeError):
        return datetime.fromtimestamp(html.stat().st_mtime, UTC)


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is a regular file that lies in ``folder`` itself once links are followed."""
    try:
        return path.is_file() and path.resolve().parent == folder.resolve()
    except OSError:
        return False


def list_reports(folder: Path) -> list[ReportFile]:
    """The HTML reports directly in ``folder``, newest first (an empty list when the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [
        ReportFile(p.name[: -len(".html")], p, _generated(p), p.stat().st_size)
        for p in folder.iterdir()
        if p.name.endswith(".html") and not p.name.startswith(".") and _inside(p, folder)
    ]
    return sorted(found, key=lambda r: (r.generated, r.name), reverse=True)


def find_report(folder: Path, name: str) -> ReportFile | None:
    """The listed report called ``name``, or None: ``name`` is compared with the listing, never used as a path."""
    return next((r for r in list_reports(folder) if r.name == name), None)
