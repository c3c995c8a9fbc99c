"""The plugin's _search names its UBI query_id: the request's ``ext.personalize.query_id`` (or a new UUID) goes to
the real ranking service, which records the page returned under it, and comes back in ``ext.personalized_rerank``."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.opensearch.client import make_client
from core.settings import PipelineSettings
from core.store import open_store
from indexer.search_pipeline import install_pipeline, remove_pipeline
from ranker.feedback.tables import UbiHitRow, UbiQueryRow
from tests.builders.service_stack import HEART_USER

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipeline(stack):
    p = PipelineSettings(name=f"test-ubi-{uuid.uuid4().hex[:8]}", ranker_url=stack.url, timeout_ms=10_000, max_hits=20)
    s = stack.settings.model_copy(update={"pipeline": p})
    install_pipeline(s)
    yield p.name
    remove_pipeline(s)


def _search(stack, pipeline: str, personalize: dict) -> dict:
    body = {
        "query": {"match": {"title": "heart"}},
        "size": 10,
        "_source": ["item_id"],
        "ext": {"personalize": personalize},
    }
    return make_client(stack.settings.opensearch).search(
        index=stack.settings.opensearch.index_alias, body=body, params={"search_pipeline": pipeline}
    )


def _recorded(stack, query_id: str) -> tuple[list, list]:
    stack.server.config.app.state.deps.impressions.flush(30)  # the service writes off the request path
    q, h = UbiQueryRow.__table__.c, UbiHitRow.__table__.c
    with open_store(stack.settings.store).connect() as conn:
        answers = conn.execute(select(q.application, q.client_id).where(q.query_id == query_id)).all()
        hits = conn.execute(select(h.object_id).where(h.query_id == query_id).order_by(h.position)).scalars().all()
    return answers, hits


def test_the_requests_query_id_is_returned_and_the_service_records_the_page(stack, pipeline):
    query_id = f"shop-{uuid.uuid4()}"
    out = _search(stack, pipeline, {"user_id": HEART_USER, "query_id": query_id})
    outcome = out["ext"]["personalized_rerank"]
    assert outcome["query_id"] == query_id and outcome["personalized"] is True, outcome
    answers, hits = _recorded(stack, query_id)
    assert answers == [("rerank", HEART_USER)]
    # The page returned (10 of the window of 20), in the order returned (tests/integration/plugin/test_shown_page.py)
    assert hits == [h["_source"]["item_id"] for h in out["hits"]["hits"]]


def test_without_a_query_id_the_plugin_makes_one_and_it_is_recorded(stack, pipeline):
    out = _search(stack, pipeline, {"user_id": HEART_USER})
    query_id = out["ext"]["personalized_rerank"]["query_id"]
    assert uuid.UUID(query_id).version == 4
    assert _recorded(stack, query_id)[0] == [("rerank", HEART_USER)]


def test_a_malformed_query_id_is_refused_by_the_node_naming_the_field(stack, pipeline):
    from opensearchpy.exceptions import RequestError

    with pytest.raises(RequestError) as refused:
        _search(stack, pipeline, {"user_id": HEART_USER, "query_id": "has space"})
    assert "ext.personalize.query_id" in str(refused.value)
