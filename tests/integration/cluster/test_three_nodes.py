"""A real 3-node OpenSearch cluster (core/opensearch/cluster.py), started once for this module on ports of its own
(RECSEARCH_NODE_HTTP_PORT+10..+12, transport likewise), sharing the session node's installation.

What a shop running a cluster must see: the items index spread over the nodes (2 shards, 1 replica each), text and
vector search answering, the personalized pipeline reranking on whichever node a search lands on; then, with one
node stopped, every search still answering from the replicas through a client that lists all three URLs (one dead),
and a new index version still being built and made live."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from core.errors import OpenSearchError
from core.opensearch.client import make_client
from core.opensearch.cluster import LocalCluster
from core.settings import OpenSearchSettings, PipelineSettings
from indexer import api
from indexer.search_pipeline import install_pipeline
from tests.builders.service_stack import HEART_USER, build_stack
from tests.paths import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.own_node, pytest.mark.cluster]

NODES, SHARDS, REPLICAS = 3, 2, 1
PORT_OFFSET = 10
QUERY = "heart t-light holder"
PAGE = 20


@pytest.fixture(scope="module")
def cluster(node_settings):
    """Three nodes in a folder of their own under .state/ (pytest's tmp folders can be rotated away under them)."""
    root = Path(tempfile.mkdtemp(prefix="test-cluster-", dir=ROOT / ".state"))
    if os.geteuid() == 0:
        root.chmod(0o755)
    http, transport = node_settings.http_port + PORT_OFFSET, node_settings.transport_port + PORT_OFFSET
    settings = node_settings.model_copy(
        update={"http_port": http, "transport_port": transport, "heap": "512m", "start_timeout_s": 420.0}
    )
    local = LocalCluster(settings, NODES, root=root)
    started = time.monotonic()
    try:
        statuses = local.start()
        print(f"\n3-node cluster started in {time.monotonic() - started:.1f}s")
        assert all(s.running for s in statuses), statuses
        yield local
    finally:
        local.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(cluster, tmp_path_factory, minilm):
    """The service's real stack (Online Retail sample, MiniLM, SQLite profiles, a ranker, uvicorn) on the cluster,
    its items index built with 2 shards and a replica each, reached through all three node URLs."""
    built = build_stack(tmp_path_factory.mktemp("cluster"), cluster.url, minilm, shards=SHARDS, replicas=REPLICAS)
    yield built
    built.stop()


@pytest.fixture(scope="module")
def pipeline(stack):
    # The window is the page: with 2 shards a k-NN query for k hits finds up to k per shard, and the window processor
    # would widen the page to max_hits of them.
    p = PipelineSettings(
        name=f"test-cluster-{uuid.uuid4().hex[:8]}", ranker_url=stack.url, timeout_ms=10_000, max_hits=PAGE
    )
    settings = stack.settings.model_copy(update={"pipeline": p})
    install_pipeline(settings)
    return settings


def _node_client(stack, url: str):
    """A client of one node only: whatever it answers, that node answered."""
    return make_client(stack.settings.opensearch.model_copy(update={"url": url}))


def _knn(minilm, k: int = PAGE) -> dict:
    return {"size": k, "query": {"knn": {"vector": {"vector": [float(x) for x in minilm.encode([QUERY])[0]], "k": k}}}}


def _ids(response: dict) -> list[str]:
    return [h["_source"]["item_id"] for h in response["hits"]["hits"]]


def _shards(client, index: str) -> list[dict]:
    return client.cat.shards(index=index, format="json", h="shard,prirep,state,node")


def test_three_nodes_form_one_cluster_each_with_knn_and_the_rerank_plugin(cluster):
    for url in cluster.urls:
        client = make_client(OpenSearchSettings(url=url))
        assert client.cluster.health()["number_of_nodes"] == NODES
    plugins = make_client(OpenSearchSettings(url=cluster.url)).cat.plugins(format="json")
    by_node: dict[str, set[str]] = {}
    for p in plugins:
        by_node.setdefault(p["name"], set()).add(p["component"])
    assert sorted(by_node) == [f"node-{i}" for i in range(NODES)]
    assert all({"opensearch-knn", "recsearch-rerank"} <= components for components in by_node.values()), by_node


def test_the_items_index_has_two_shards_each_with_a_replica_on_another_node(stack):
    client = make_client(stack.settings.opensearch)
    index = api.items_index(stack.settings)
    live = index.live_version()
    settings = client.indices.get_settings(index=live)[live]["settings"]["index"]
    assert (int(settings["number_of_shards"]), int(settings["number_of_replicas"])) == (SHARDS, REPLICAS)
    assert client.cluster.health(index=live, wait_for_status="green")["status"] == "green"
    copies = _shards(client, live)
    assert len(copies) == SHARDS * (1 + REPLICAS) and {c["state"] for c in copies} == {"STARTED"}
    for shard in {c["shard"] for c in copies}:
        nodes = [c["node"] for c in copies if c["shard"] == shard]
        assert len(set(nodes)) == len(nodes)  # a replica never sits on its primary's node
    assert len({c["node"] for c in copies}) >= 2


def test_text_and_vector_search_answer_with_the_sample_items(stack, minilm):
    for mode in ("bm25", "knn", "hybrid"):
        hits = api.search(stack.settings, QUERY, k=10, embedder=minilm, mode=mode)
        assert len(hits) == 10, mode
        assert set(stack.heart_items) & {h.id for h in hits}, mode  # heart holders for a heart holder query


def test_the_personalized_pipeline_reranks_on_every_node(stack, pipeline, minilm):
    alias, body = stack.settings.opensearch.index_alias, _knn(minilm)
    orders = []
    for url in stack.settings.opensearch.hosts:
        client = _node_client(stack, url)
        plain = client.search(index=alias, body=body)
        ranked = client.search(
            index=alias,
            body={**body, "ext": {"personalize": {"user_id": HEART_USER}}},
            params={"search_pipeline": pipeline.pipeline.name},
        )
        outcome = ranked["ext"]["personalized_rerank"]
        assert outcome["personalized"] is True and outcome["reason"] is None, (url, outcome)
        assert outcome["reranked"] == len(plain["hits"]["hits"]) > 0
        assert sorted(_ids(ranked)) == sorted(_ids(plain)) and _ids(ranked) != _ids(plain), url
        orders.append(_ids(ranked))
    assert all(order == orders[0] for order in orders)  # the same answer whichever node coordinates


@pytest.fixture(scope="module")
def one_node_down(stack, cluster, pipeline, minilm):
    """Answers from before, then the node holding a primary copy of the live index (and most copies) stopped."""
    client = make_client(stack.settings.opensearch)
    live = api.items_index(stack.settings).live_version()
    copies = _shards(client, live)
    holds = {c["node"]: sum(x["node"] == c["node"] for x in copies) for c in copies if c["prirep"] == "p"}
    victim = max(holds, key=lambda n: (holds[n], n))
    before = {m: [h.id for h in api.search(stack.settings, QUERY, 10, minilm, m)] for m in ("bm25", "knn")}
    started = time.monotonic()
    assert cluster.stop_node(int(victim.removeprefix("node-")))
    print(f"\n{victim} stopped, the others formed the cluster again in {time.monotonic() - started:.1f}s")
    return {"victim": victim, "live": live, "before": before, "copies": holds[victim]}


def test_with_a_node_stopped_every_search_still_answers_from_the_replicas(stack, cluster, minilm, one_node_down):
    client = make_client(stack.settings.opensearch)  # all three URLs, one of them dead
    health = client.cluster.health()
    assert health["number_of_nodes"] == NODES - 1 and health["status"] in ("yellow", "green")
    assert one_node_down["victim"] not in {c["node"] for c in _shards(client, one_node_down["live"]) if c["node"]}
    for _ in range(2 * NODES):  # every node URL in turn, the dead one included: each request is answered
        for mode in ("bm25", "knn"):
            hits = [h.id for h in api.search(stack.settings, QUERY, 10, minilm, mode)]
            if mode == "bm25":
                assert hits == one_node_down["before"]["bm25"]
            else:  # the replica's own HNSW graph: an approximate search may differ at the margin
                assert len(set(hits) & set(one_node_down["before"]["knn"])) >= 8, hits


def test_with_a_node_stopped_the_pipeline_still_reranks(stack, cluster, pipeline, minilm, one_node_down):
    alive = [m.url for m in cluster.members if m.status().running]
    assert len(alive) == NODES - 1
    for url in alive:
        ranked = _node_client(stack, url).search(
            index=stack.settings.opensearch.index_alias,
            body={**_knn(minilm), "ext": {"personalize": {"user_id": HEART_USER}}},
            params={"search_pipeline": pipeline.pipeline.name},
        )
        assert ranked["ext"]["personalized_rerank"]["personalized"] is True, url


def test_with_a_node_stopped_a_new_version_is_built_and_made_live(stack, minilm, one_node_down, tmp_path):
    catalog = stack.settings.state_dir.parent / "catalog.parquet"
    started = time.monotonic()
    result = api.build_from_catalog(stack.settings, catalog, embedder=minilm, force=True).result
    print(f"\nbuild with {NODES - 1} of {NODES} nodes: {time.monotonic() - started:.1f}s")
    index = api.items_index(stack.settings)
    assert result.previous == one_node_down["live"] and result.index != one_node_down["live"]
    assert index.live_version() == result.index
    assert index.doc_count(result.index) == index.doc_count(one_node_down["live"])
    health = index.client.cluster.health(index=result.index, wait_for_status="yellow")
    assert health["status"] in ("yellow", "green") and health["active_primary_shards"] == SHARDS
    assert len(api.search(stack.settings, QUERY, 10, minilm, "hybrid")) == 10


def test_without_a_cluster_manager_a_build_fails_with_one_clear_error_and_the_alias_stays(stack, cluster, minilm):
    """A second node stopped: one of three cannot elect a cluster manager. Searches may still be served, but no
    index can be created or alias moved: the build must say so in one line, and the live version must stay live."""
    index = api.items_index(stack.settings)
    live = index.live_version()
    alive = [m for m in cluster.members if m.status().running]
    assert cluster.stop_node(alive[0].index)
    # Through the node still running, without retries: the server gives up after its cluster_manager_timeout
    # (30 s), and the client must wait longer to hear why. (Through all three URLs opensearch-py retries the 503 on
    # the stopped nodes, and the last error is theirs: "cannot reach OpenSearch at URL,URL,URL".)
    last = next(m for m in cluster.members if m.status().running)
    os_settings = stack.settings.opensearch.model_copy(update={"url": last.url, "timeout_s": 90.0, "max_retries": 0})
    settings = stack.settings.model_copy(update={"opensearch": os_settings})
    catalog = stack.settings.state_dir.parent / "catalog.parquet"
    started = time.monotonic()
    with pytest.raises(OpenSearchError) as failed:
        api.build_from_catalog(settings, catalog, embedder=minilm, force=True)
    print(f"\nbuild with 1 of {NODES} nodes failed in {time.monotonic() - started:.1f}s: {failed.value}")
    message = str(failed.value)
    assert "\n" not in message and message.startswith(f"OpenSearch at {last.url} answered HTTP 503"), message
    assert "no elected cluster manager" in message, message
    started = time.monotonic()
    cluster.start()  # the two stopped nodes come back and the cluster re-forms
    print(f"two nodes restarted in {time.monotonic() - started:.1f}s")
    assert index.live_version() == live
