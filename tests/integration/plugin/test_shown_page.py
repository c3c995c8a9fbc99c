"""What the plugin shows is what the service records: on the real node, through ``_search?search_pipeline=...``
with ``from``/``size``, the real ranking service (tests/builders/service_stack.py) gets the plugin's blend weight
and page, answers in the blended order, and records the UBI impression of exactly the page returned, at its places
in the whole ordering. Under a team-draft interleaving experiment between two registered versions, the page shown
is a team draft of the two versions' blended lists (each blended with OpenSearch's scores before the draft)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.opensearch.client import make_client
from core.settings import PipelineSettings
from core.store import open_store
from indexer.search_pipeline import install_pipeline, remove_pipeline
from ranker.experiments import start_experiment, stop_experiment
from ranker.feedback.tables import UbiHitRow, UbiQueryRow
from ranker.model import registry
from ranker.model.item_vectors import ItemVectors
from ranker.service.blend import blended
from ranker.service.ranking import rank
from tests.builders.interleaving import team_draft_violation
from tests.builders.service_stack import HEART_USER, register_model

pytestmark = pytest.mark.integration

WINDOW = 20
WEIGHT = 0.5
QUERY = {"match": {"title": "heart"}}


@pytest.fixture(scope="module")
def pipeline(stack):
    p = PipelineSettings(name=f"test-page-{uuid.uuid4().hex[:8]}", ranker_url=stack.url, timeout_ms=10_000,
                         max_hits=WINDOW, blend_weight=WEIGHT)  # fmt: skip
    s = stack.settings.model_copy(update={"pipeline": p})
    install_pipeline(s)
    yield p.name
    remove_pipeline(s)


def _search(stack, pipeline: str | None, body: dict) -> dict:
    params = {"search_pipeline": pipeline} if pipeline else {}
    return make_client(stack.settings.opensearch).search(
        index=stack.settings.opensearch.index_alias, body={**body, "_source": ["item_id"]}, params=params
    )


def _page(stack, pipeline: str, start: int, size: int, query_id: str) -> dict:
    personalize = {"user_id": HEART_USER, "query_id": query_id}
    out = _search(stack, pipeline, {"query": QUERY, "from": start, "size": size, "ext": {"personalize": personalize}})
    assert out["ext"]["personalized_rerank"]["personalized"] is True, out["ext"]
    return out


def _ids(response: dict) -> list[str]:
    return [h["_source"]["item_id"] for h in response["hits"]["hits"]]


def _recorded(stack, query_id: str) -> tuple[list, list[tuple[str, int, str]]]:
    stack.server.config.app.state.deps.impressions.flush(30)  # the service writes off the request path
    q, h = UbiQueryRow.__table__.c, UbiHitRow.__table__.c
    with open_store(stack.settings.store).connect() as conn:
        answers = conn.execute(select(q.model_version, q.experiment).where(q.query_id == query_id)).all()
        hits = conn.execute(select(h.object_id, h.position, h.placed_by).where(h.query_id == query_id)
                            .order_by(h.position)).all()  # fmt: skip
    return answers, [tuple(r) for r in hits]


def test_the_recorded_impression_is_the_page_the_search_returned(stack, pipeline):
    query_id = f"page-{uuid.uuid4()}"
    out = _page(stack, pipeline, 5, 5, query_id)  # page 2 of five: places 6..10 of the ordering
    shown = _ids(out)
    assert len(shown) == 5
    answers, hits = _recorded(stack, query_id)
    version = out["ext"]["personalized_rerank"]["model_version"]
    assert answers == [(version, None)]
    assert hits == [(item, 6 + n, version) for n, item in enumerate(shown)]
    # The page is a slice of the blended window: OpenSearch's top 20 in the order the service blended.
    first = _page(stack, pipeline, 0, 10, f"page-{uuid.uuid4()}")
    assert _ids(first)[5:10] == shown
    plain = _search(stack, None, {"query": QUERY, "size": WINDOW})
    assert set(_ids(first)) <= set(_ids(plain))
    scores = [h["_score"] for h in first["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)  # blended scores


@pytest.fixture
def experiment(stack):
    """A running team-draft interleaving between the active version and a second, differently seeded one."""
    engine = open_store(stack.settings.store)
    control = registry.active_version(engine).version
    treatment = register_model(stack.settings, ItemVectors.from_index(stack.settings), seed=7, activate=False)
    name = f"plugin-page-{uuid.uuid4().hex[:8]}"
    start_experiment(stack.settings, name, control, treatment, mode="interleave", traffic=1.0)
    deps = stack.server.config.app.state.deps
    deps._refresh_experiment()  # the service re-reads the running experiment every few seconds: now, for the test
    yield name, control, treatment
    stop_experiment(stack.settings, name)
    deps._refresh_experiment()


def test_under_interleaving_the_shown_page_is_a_team_draft_of_the_two_blended_lists(stack, pipeline, experiment):
    name, control, treatment = experiment
    query_id = f"draft-{uuid.uuid4()}"
    out = _page(stack, pipeline, 0, 10, query_id)
    shown = _ids(out)
    assert out["ext"]["personalized_rerank"]["model_version"] == f"{control}+{treatment}"
    answers, hits = _recorded(stack, query_id)
    assert answers == [(f"{control}+{treatment}", name)]
    assert [(i, p) for i, p, _ in hits] == [(item, n + 1) for n, item in enumerate(shown)]
    placed = [by for _, _, by in hits]
    assert set(placed) <= {control, treatment}
    # Each version's list as the shopper would see it alone: its ranking of the window the plugin sent (OpenSearch's
    # top 20 with their scores), blended with OpenSearch's scores.
    plain = _search(stack, None, {"query": QUERY, "size": WINDOW})
    window = [(h["_source"]["item_id"], h["_score"]) for h in plain["hits"]["hits"]]
    deps = stack.server.config.app.state.deps
    lists = {}
    for version in (control, treatment):
        ranking = rank(deps, HEART_USER, window, ranker=deps.ranker_of(version), query_order=True)
        lists[version] = [r.id for r in blended(ranking, window, WEIGHT).results]
    assert lists[control] != lists[treatment]  # two rankers that disagree: the draft is not one list
    assert team_draft_violation(shown, placed, lists) is None
