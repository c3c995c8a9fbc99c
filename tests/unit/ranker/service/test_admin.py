"""The admin page's data (``/v1/admin/overview``) over fake sources: the write scope and nothing less, what each
section holds (and holds back: no paths, URLs or keys), a section that cannot be read, and the report route that
serves listed reports only."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.errors import ClusterUnreachable
from core.reports import find_report, list_reports
from core.settings import EvalSettings, Settings
from indexer.index import IndexVersion
from ranker.experiments import Experiment, ExperimentReport, Result, Status
from ranker.experiments.report import WinRate
from ranker.model import ModelVersion
from ranker.service.admin import LiveAdmin
from tests.fakes.service import make_app

KEYS = {"read_api_keys": "r-key", "personal_api_keys": "p-key", "write_api_keys": "w-key", "event_api_keys": "e-key"}
WRITE = {"Authorization": "Bearer w-key"}


class FakeAdmin:
    """The admin page's parts as lists; ``broken`` names parts that raise ``error``."""

    def __init__(self, reports_dir: Path | None = None, broken: tuple[str, ...] = (), error: Exception | None = None):
        self.reports_dir = reports_dir
        self.broken, self.error = broken, error

    def _check(self, part: str) -> None:
        if part in self.broken:
            raise self.error

    def index_versions(self):
        self._check("index")
        meta = {"build_state": "complete", "schema_version": 4, "embedding_model": "/srv/models/minilm-ft-3",
                "enriched_items": 120, "llm_url": "http://user:hunter2@llm.internal"}  # fmt: skip
        return [
            IndexVersion("items-v20260102t030405123456", 0, False, {"build_state": "building", "schema_version": 4}),
            IndexVersion("items-v20251201t101010000000", 1500, True, meta),
        ]

    def models(self):
        self._check("models")
        created = datetime(2026, 1, 2, 3, 4, 5)  # naive UTC, as the store gives it back
        metrics = {"val_ndcg@10": 0.31, "val_hr@10": 0.52, "val_popularity_ndcg@10": 0.2, "train_loss": 1.5}
        return [
            ModelVersion("v2", created, Path("/srv/state/models/ranker-v2.pt"), metrics, {"options": {}}, True),
            ModelVersion("v1", created, Path("/srv/state/models/ranker-v1.pt"), {}, {}, False),
        ]

    def reports(self):
        self._check("reports")
        return list_reports(self.reports_dir) if self.reports_dir else []

    def report(self, name):
        return find_report(self.reports_dir, name) if self.reports_dir else None

    def experiments(self):
        self._check("experiments")
        e = Experiment("e1", "interleave", "v1", "v2", 0.5, "running", datetime(2026, 1, 3, 9, 0))
        report = ExperimentReport("e1", "interleave", "v1", "v2", 0.5, "running", 0.05, 40,
                                  win_rates=[WinRate("click", 30, 10, 2, 8, 0.75, 0.6, 0.86, 0.002, "treatment")],
                                  sessions_to_significance=30, winner="treatment", winner_version="v2")  # fmt: skip
        return [Result(Status(e, 50), report)]


def client(admin, **service) -> TestClient:
    app, _ = make_app(service={**KEYS, **service}, admin=admin)
    return TestClient(app, raise_server_exceptions=False)


def test_the_overview_and_reports_need_the_write_scope(tmp_path):
    (tmp_path / "run1.html").write_text("<h1>run</h1>")
    c = client(FakeAdmin(tmp_path))
    for path in ("/v1/admin/overview", "/v1/admin/reports/run1"):
        for headers in ({}, {"Authorization": "Bearer nope"}):
            r = c.get(path, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (path, r.text)
        for key in ("r-key", "p-key", "e-key"):
            r = c.get(path, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 403 and "'write' scope" in r.json()["error"], (path, key)
        assert c.get(path, headers=WRITE).status_code == 200
        assert c.get(path, headers={"X-API-Key": "w-key"}).status_code == 200
    # The page itself is open (a navigation carries no key) and holds no data.
    page = c.get("/admin")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/admin.js" in page.text and "items-v" not in page.text


def test_the_overview_holds_each_part_without_paths_urls_or_keys():
    r = client(FakeAdmin()).get("/v1/admin/overview", headers=WRITE)
    assert r.status_code == 200
    body = r.json()
    assert body["alias"] == "items"
    building, live = body["index_versions"]["items"]
    assert live == {"name": "items-v20251201t101010000000", "documents": 1500, "created": "2025-12-01T10:10:10Z",
                    "live": True, "build_state": "complete", "schema_version": 4, "embedding_model": "minilm-ft-3",
                    "enriched_items": 120}  # fmt: skip
    assert building["build_state"] == "building" and not building["live"]
    assert building["created"] == "2026-01-02T03:04:05.123456Z"
    v2, v1 = body["models"]["items"]
    assert v2["active"] and not v1["active"] and v2["created"] == "2026-01-02T03:04:05Z"
    assert v2["headline"] == {"val_ndcg@10": 0.31, "val_hr@10": 0.52, "val_popularity_ndcg@10": 0.2}
    assert v2["metrics"]["train_loss"] == 1.5 and v1["headline"] == {}
    [e] = body["experiments"]["items"]
    assert (e["name"], e["state"], e["answers"], e["winner_version"], e["significant_after"]) == (
        "e1", "running", 50, "v2", 30)  # fmt: skip
    assert e["comparisons"] == [{"measure": "click win rate", "estimate": 0.75, "low": 0.6, "high": 0.86,
                                 "p_value": 0.002, "winner": "treatment", "decided": 40}]  # fmt: skip
    assert body["reports"] == {"items": [], "error": None}
    for secret in ("/srv", "hunter2", "llm.internal", "w-key", "ranker-v2.pt"):
        assert secret not in r.text


@pytest.mark.parametrize(
    ("error", "shown", "hidden"),
    [
        (ClusterUnreachable("cannot reach OpenSearch at http://127.0.0.1:1"), "cannot reach OpenSearch", None),
        (RuntimeError("connect to postgresql://admin:hunter2@db failed"), "cannot read", "hunter2"),
    ],
)
def test_a_part_that_cannot_be_read_says_why_and_the_others_are_shown(error, shown, hidden):
    r = client(FakeAdmin(broken=("index", "experiments"), error=error)).get("/v1/admin/overview", headers=WRITE)
    assert r.status_code == 200
    body = r.json()
    for part in ("index_versions", "experiments"):
        assert body[part]["items"] == [] and shown in body[part]["error"]
    assert len(body["models"]["items"]) == 2 and body["models"]["error"] is None
    if hidden:  # a driver's message may quote a URL with its password: only the type is named
        assert hidden not in r.text and "RuntimeError" in body["index_versions"]["error"]


def test_reports_are_listed_with_their_url_and_served_by_listed_name_only(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "run 1.html").write_text("<h1>run one</h1>")
    (reports / "run 1.json").write_text('{"generated": "2026-01-05 06:07:08 UTC"}')
    (tmp_path / "secret.html").write_text("outside the folder")
    (reports / "escape.html").symlink_to(tmp_path / "secret.html")
    c = client(FakeAdmin(reports))
    listed = c.get("/v1/admin/overview", headers=WRITE).json()["reports"]["items"]
    assert [(r["name"], r["url"], r["generated"]) for r in listed] == [
        ("run 1", "/v1/admin/reports/run%201", "2026-01-05T06:07:08Z")]  # fmt: skip
    r = c.get(listed[0]["url"], headers=WRITE)
    assert r.status_code == 200 and r.text == "<h1>run one</h1>"
    assert r.headers["content-type"].startswith("text/html") and r.headers["content-security-policy"] == "sandbox"
    for path in ("escape", "secret", "..%2Fsecret", "%2E%2E%2Fsecret", "run%201.json", "run%201.html",
                 "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):  # fmt: skip
        r = c.get(f"/v1/admin/reports/{path}", headers=WRITE)
        assert r.status_code == 404 and "outside" not in r.text, path
    assert c.get("/v1/admin/reports/../../secret.html", headers=WRITE).status_code == 404


def test_with_no_keys_configured_the_page_is_open_like_every_route():
    app, _ = make_app(admin=FakeAdmin())
    assert TestClient(app).get("/v1/admin/overview").status_code == 200


def test_the_live_sources_read_the_reports_folder_of_the_settings(tmp_path):
    (tmp_path / "run1.html").write_text("<h1>run</h1>")
    live = LiveAdmin(Settings(evaluation=EvalSettings(reports_dir=tmp_path)), engine=lambda: None)
    assert [r.name for r in live.reports()] == ["run1"]
    assert live.report("run1").html == tmp_path / "run1.html" and live.report("../run1") is None
