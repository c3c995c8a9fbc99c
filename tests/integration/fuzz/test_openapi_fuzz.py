"""Property-based fuzzing of every route from the service's own OpenAPI schema (schemathesis), against the real
stack: OpenSearch node, MiniLM, SQLite profiles, a registered ranker. Each route is called with the write key, the
read key and no key. Whatever is generated, the service answers without a 5xx and within its documented schema, and
without a key every protected route refuses.

The number of generated requests per route and key is ``--fuzz-examples`` (small in the test command;
``scripts/reliability fuzz`` runs 2,000). schemathesis drives hypothesis here directly (its pytest plugin's lazy
fixture does not run under this pytest)."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.integration.fuzz.conftest import READ_KEY, WRITE_KEY, call_checked, fuzzed

pytestmark = pytest.mark.integration

KEYS = {"write": {"X-API-Key": WRITE_KEY}, "read": {"X-API-Key": READ_KEY}, "none": {}}
OPEN = {"/healthz", "/readyz", "/storefront/config"}  # open by design (docs/service.md)


def _routes() -> list[tuple[str, str]]:
    """Every (METHOD, path) of the service's schema (building the app reads no data and connects nowhere)."""
    from core.settings import Settings
    from ranker.service import create_app

    paths = create_app(Settings()).openapi()["paths"]
    return [(method.upper(), path) for path, ops in paths.items() for method in ops]


@pytest.mark.parametrize("key", list(KEYS))
@pytest.mark.parametrize(("method", "path"), _routes())
def test_route(api_schema, method, path, key):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @fuzzed
    def call(case):
        response = call_checked(case, KEYS[key], f"{method} {path} [{key} key]")
        if key == "none" and path not in OPEN:
            assert response.status_code in (401, 404, 405, 413, 422), (response.status_code, response.text[:200])

    call()
