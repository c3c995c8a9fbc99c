"""The fuzz suite's own stack (it writes events and deletes users, so it never shares the session's stack) and its
request counter."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.builders.service_stack import build_stack, drop_index

READ_KEY, WRITE_KEY = "fuzz-read-key", "fuzz-write-key"
#: Requests sent per "METHOD path [key]": printed at the end of the run.
SENT: Counter[str] = Counter()


def fuzzed(test):
    """Hypothesis settings of every fuzz test; the number of examples is the profile's (``--fuzz-examples``).
    Built when the test is decorated, not when this file is imported: pytest imports this conftest before it loads
    that profile, and a settings object takes its defaults from the profile current when it is built."""
    return settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))(test)


def call_checked(case, headers: dict[str, str], label: str):
    """Send ``case``, count it under ``label``, and check the answer: no 5xx, within the documented schema."""
    response = case.call(headers=headers)
    SENT[label] += 1
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    return response


@pytest.fixture(scope="session")
def fuzz_stack(tmp_path_factory, opensearch_node, minilm):
    built = build_stack(tmp_path_factory.mktemp("fuzz"), opensearch_node.url, minilm)
    yield built
    built.stop()
    drop_index(built.settings)


@pytest.fixture(scope="session")
def fuzz_app(fuzz_stack):
    """The service over the fuzz stack's index, store and model, with a read and a write key configured."""
    from ranker.service import create_app

    service = fuzz_stack.settings.service.model_copy(
        update={
            "read_api_keys": SecretStr(READ_KEY),
            "write_api_keys": SecretStr(WRITE_KEY),
            "allowed_hosts": "testserver",  # the in-process client's Host
        }
    )
    return create_app(fuzz_stack.settings.model_copy(update={"service": service}), warm=True)


@pytest.fixture(scope="session")
def api_schema(fuzz_app):
    import schemathesis

    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def pytest_terminal_summary(terminalreporter):
    if not SENT:
        return
    terminalreporter.write_line(f"API fuzz: {sum(SENT.values())} requests sent")
    for name, n in sorted(SENT.items()):
        terminalreporter.write_line(f"  {n:6d}  {name}")
