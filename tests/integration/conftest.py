"""The service's real stack (tests/builders/service_stack.py), built once for the integration tests that use it: the
service's and the plugin's."""

from __future__ import annotations

import pytest

from tests.builders.service_stack import build_stack, drop_index


@pytest.fixture(scope="session")
def stack(tmp_path_factory, opensearch_node, minilm):
    built = build_stack(tmp_path_factory.mktemp("service"), opensearch_node.url, minilm)
    yield built
    built.stop()
    drop_index(built.settings)
