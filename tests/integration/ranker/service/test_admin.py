"""The admin page on the real parts: index versions on the real node (two complete builds and a half-built one),
the registry and two experiments with recorded answers and attributed clicks in a real SQLite store, evaluation
reports in a folder, the service on a real uvicorn server with API keys; then the page in headless Chromium
(Debian's chromium + chromedriver, as the storefront's test).

Refresh the picture in the docs after a deliberate change of the page (then look at it, and commit it):

    pytest tests/integration/ranker/service/test_admin.py --update-screenshots      # writes docs/img/admin.png
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.settings import EvalSettings, OpenSearchSettings, ServiceSettings, Settings, StoreSettings
from core.store import open_store
from indexer import api
from ranker.experiments import start_experiment, stop_experiment
from ranker.feedback import Impression, ProfileStore, StoreImpressions, shown
from ranker.feedback.events import EventIn
from ranker.model import registry
from ranker.service import create_app
from tests.builders.service_stack import ServerThread, free_port
from tests.fakes.embedder import HashEmbedder
from tests.integration.ranker.service.test_storefront import browser  # noqa: F401  (the headless Chromium)
from tests.paths import ROOT

pytestmark = pytest.mark.integration

READ, WRITE = "admin-read-key", "admin-write-key"
#: A report whose file name is markup: the page must show it as text and run nothing.
HOSTILE = '<img src=x onerror="window.pwned=1">'
SCREENSHOT = ROOT / "docs" / "img" / "admin.png"


def _catalog(path, n: int) -> None:
    path.write_text("".join(json.dumps({"id": f"SKU{i}", "title": f"Candle holder {i}", "price": 2.5}) + "\n"
                            for i in range(n)))  # fmt: skip


def _experiment(settings, engine, name: str, answers: int, control_every: int, start: datetime, mode: str) -> None:
    """Experiment ``name`` (v1 vs v2) with ``answers`` answers. Interleaved: each clicked once, on v1's item every
    ``control_every``-th answer, else on v2's. A/B (answers alternate between the arms): every v2 answer is clicked,
    a v1 answer every ``control_every``-th time."""
    start_experiment(settings, name, "v1", "v2", mode=mode, traffic=1.0 if mode == "interleave" else 0.5)
    shown_, clicks = [], []
    for n in range(answers):
        query_id, ts, user = f"{name}-{n}", start + timedelta(seconds=n), f"u{n}"  # a shopper each
        if mode == "interleave":
            placed, version = ["v1", "v2"], "v1+v2"
            item = "SKU1" if n % control_every == 0 else "SKU2"
        else:
            version = "v2" if n % 2 else "v1"
            placed, item = [version, version], "SKU1"
            if version == "v1" and n % control_every:
                item = None
        shown_.append(Impression(query_id, "search", user, "candle", shown(["SKU1", "SKU2"], placed), version, True,
                                 experiment=name, timestamp=ts))  # fmt: skip
        if item:
            clicks.append(EventIn(user_id=user, item_id=item, type="click", ts=ts, query_id=query_id))
    StoreImpressions(lambda: engine).write(shown_)
    ProfileStore(engine, settings).ingest(clicks)


@pytest.fixture(scope="module")
def admin(tmp_path_factory, opensearch_node):
    tmp = tmp_path_factory.mktemp("admin")
    reports = tmp / "reports"
    reports.mkdir()
    settings = Settings(
        opensearch=OpenSearchSettings(url=opensearch_node.url, index_alias=f"test-admin-{uuid.uuid4().hex[:8]}"),
        store=StoreSettings(url=f"sqlite:///{tmp / 'store.db'}"),
        service=ServiceSettings(read_api_keys=READ, write_api_keys=WRITE),
        evaluation=EvalSettings(reports_dir=reports),
        state_dir=tmp / "state",
    )
    embedder = HashEmbedder()
    _catalog(tmp / "shop.jsonl", 30)
    api.build_from_catalog(settings, tmp / "shop.jsonl", embedder=embedder, enrich=False)
    _catalog(tmp / "shop.jsonl", 32)
    api.build_from_catalog(settings, tmp / "shop.jsonl", embedder=embedder, enrich=False)
    api.items_index(settings).create_version(embedder.dimension, {"build_state": "building"})  # a build under way

    engine = open_store(settings.store)
    for version, ndcg in (("v1", 0.2841), ("v2", 0.3127)):
        path = tmp / f"ranker-{version}.pt"
        path.write_bytes(version.encode())
        metrics = {"val_ndcg@10": ndcg, "val_hr@10": ndcg + 0.2, "val_popularity_ndcg@10": 0.1906, "best_epoch": 3.0}
        registry.register(engine, version, path, metrics, activate=version == "v1")
    now = datetime.now(UTC).replace(tzinfo=None)
    _experiment(settings, engine, "spring-ab", 40, 4, now - timedelta(days=3), "ab")
    stop_experiment(settings, "spring-ab")
    _experiment(settings, engine, "v2-vs-v1", 80, 4, now - timedelta(hours=5), "interleave")  # v2: 3 in 4

    (reports / "evaluation-20260105T101500.html").write_text("<h1>recsearch evaluation</h1><p>ndcg@10 0.31</p>")
    (reports / "evaluation-20260105T101500.json").write_text('{"generated": "2026-01-05 10:15:00 UTC"}')
    (reports / f"{HOSTILE}.html").write_text("<h1>a report with an odd name</h1>")
    (tmp / "private.html").write_text("outside the reports folder")

    server, thread = ServerThread(create_app(settings), free_port()).start()
    yield settings, f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)
    from core.opensearch.client import make_client

    make_client(settings.opensearch).indices.delete(
        index=f"{settings.opensearch.index_alias}-v*", ignore_unavailable=True, allow_no_indices=True
    )


def test_the_overview_over_http_shows_the_real_versions_models_experiments_and_reports(admin):
    settings, url = admin
    assert httpx.get(f"{url}/v1/admin/overview").status_code == 401
    assert httpx.get(f"{url}/v1/admin/overview", headers={"Authorization": f"Bearer {READ}"}).status_code == 403
    headers = {"Authorization": f"Bearer {WRITE}"}
    r = httpx.get(f"{url}/v1/admin/overview", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()

    versions = api.index_versions(settings)[::-1]  # what the node says, newest first
    rows = body["index_versions"]["items"]
    assert [(v["name"], v["documents"], v["live"]) for v in rows] == [(v.name, v.docs, v.live) for v in versions]
    assert [(v["build_state"], v["live"], v["documents"]) for v in rows] == [
        ("building", False, 0), ("complete", True, 32), ("complete", False, 30)]  # fmt: skip
    assert rows[1]["name"] == api.items_index(settings).live_version()
    assert all(v["schema_version"] == 4 for v in rows) and rows[1]["embedding_model"] == "fake-hash"
    assert abs(datetime.fromisoformat(rows[0]["created"]) - datetime.now(UTC)) < timedelta(minutes=30)

    assert [(m["version"], m["active"], m["headline"]["val_ndcg@10"]) for m in body["models"]["items"]] == [
        ("v2", False, 0.3127), ("v1", True, 0.2841)]  # fmt: skip

    running, stopped = body["experiments"]["items"]
    assert (running["name"], running["state"], running["answers"]) == ("v2-vs-v1", "running", 80)
    click = running["comparisons"][0]
    assert click["measure"] == "click win rate" and click["estimate"] == 0.75 and click["p_value"] < 0.001
    assert click["low"] < 0.75 < click["high"] and running["winner_version"] == "v2"
    assert (stopped["name"], stopped["state"], stopped["answers"]) == ("spring-ab", "stopped", 40)
    clicks = stopped["comparisons"][0]
    assert clicks["measure"] == "Δ clicks per answer" and clicks["decided"] is None
    assert clicks["estimate"] == pytest.approx(0.5) and stopped["stopped"] is not None  # v2: 1.0 a answer, v1: 0.5

    reports = body["reports"]["items"]
    assert [r["name"] for r in reports][-1] == "evaluation-20260105T101500"  # the hostile one is newer (its mtime)
    report = httpx.get(url + reports[-1]["url"], headers=headers)
    assert report.status_code == 200 and "recsearch evaluation" in report.text
    assert report.headers["content-security-policy"] == "sandbox"
    assert httpx.get(url + reports[-1]["url"]).status_code == 401
    for name in ("private", "..%2Fprivate", "%2e%2e%2fprivate", "evaluation-20260105T101500.json"):
        assert httpx.get(f"{url}/v1/admin/reports/{name}", headers=headers).status_code == 404, name
    for secret in (WRITE, READ, str(settings.state_dir), "ranker-v1.pt"):
        assert secret not in r.text


def _wait(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _ready(driver) -> None:
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def _submit_key(driver, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.execute_script("document.body.dataset.ready = ''")
    field = driver.find_element(By.ID, "key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#key-form button").click()
    _ready(driver)


def test_the_admin_page_in_chromium(admin, browser, request, tmp_path):
    from selenium.webdriver.common.by import By

    settings, url = admin
    browser.get(url + "/admin")
    _ready(browser)
    assert browser.find_element(By.ID, "key-form").is_displayed()
    assert not browser.find_element(By.ID, "panels").is_displayed()
    _submit_key(browser, READ)
    assert "lacks the write scope" in browser.find_element(By.ID, "key-why").text
    _submit_key(browser, WRITE)
    assert not browser.find_element(By.ID, "key-form").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('recsearch.admin.key')") == WRITE

    text = lambda sel: [e.text for e in browser.find_elements(By.CSS_SELECTOR, sel)]  # noqa: E731
    index_rows = browser.find_elements(By.CSS_SELECTOR, "#index-table tbody tr")
    assert [r.get_attribute("data-name") for r in index_rows] == [v.name for v in api.index_versions(settings)[::-1]]
    assert "live" in index_rows[1].text and "building" in index_rows[0].text and "32" in index_rows[1].text
    assert text("#models-table tbody tr td:first-child") == ["v2", "v1"]
    assert "active" in browser.find_element(By.CSS_SELECTOR, "#models-table tr[data-version=v1]").text
    running = browser.find_element(By.CSS_SELECTOR, "#experiments-table tr[data-name='v2-vs-v1']").text
    assert "running" in running and "0.750" in running and "v2 wins" in running and "< 0.0001" in running
    assert "stopped" in browser.find_element(By.CSS_SELECTOR, "#experiments-table tr[data-name='spring-ab']").text

    # Shop data is text, never markup: the report named like an <img> tag is shown as written and ran nothing.
    assert HOSTILE in text("#reports-table tbody td:first-child")
    assert browser.find_elements(By.CSS_SELECTOR, "#reports-table img") == []
    assert browser.execute_script("return window.pwned") is None
    page = browser.find_element(By.TAG_NAME, "main").text
    assert '{"' not in page and "null" not in page and "undefined" not in page and "NaN" not in page

    # A report opens in a sandboxed frame (fetched with the key; the frame runs no script and has no origin).
    browser.find_element(By.CSS_SELECTOR, "#reports-table a[data-report='evaluation-20260105T101500']").click()
    _wait(browser, lambda d: d.find_element(By.ID, "viewer").is_displayed())
    frame = browser.find_element(By.ID, "viewer-frame")
    assert frame.get_attribute("sandbox") == "" and "recsearch evaluation" in frame.get_attribute("srcdoc")
    browser.find_element(By.CSS_SELECTOR, "#viewer button").click()

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(height + 140, 2000))  # the whole page in one picture
    browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    shot = tmp_path / "admin.png"
    assert browser.save_screenshot(str(shot))
    widths = browser.execute_script(
        "return [...document.querySelectorAll('.panel')].map((p) => [p.offsetWidth, p.scrollWidth])"
    )
    assert len(widths) == 4 and all(scroll <= width for width, scroll in widths), widths  # no table overflows
    if request.config.getoption("--update-screenshots"):
        shutil.copy(shot, SCREENSHOT)

    # Forget: the key leaves the tab and the page asks again.
    browser.find_element(By.ID, "forget").click()
    assert browser.find_element(By.ID, "key-form").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('recsearch.admin.key')") is None
