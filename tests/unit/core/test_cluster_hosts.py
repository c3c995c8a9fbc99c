"""Several node URLs in RECSEARCH_OPENSEARCH_URL, and the local cluster's layout (the cluster itself runs in
tests/integration/cluster)."""

from __future__ import annotations

import pytest

from core.errors import ConfigError, NodeError
from core.opensearch.client import make_client
from core.opensearch.cluster import LocalCluster
from core.redact import mask_password, without_userinfo
from core.settings import NodeSettings, OpenSearchSettings, get_settings


def test_a_comma_separated_url_is_one_host_per_node():
    s = OpenSearchSettings(url="http://127.0.0.1:9236, http://127.0.0.1:9237,http://127.0.0.1:9238")
    assert s.hosts == ["http://127.0.0.1:9236", "http://127.0.0.1:9237", "http://127.0.0.1:9238"]
    client = make_client(s)
    ports = sorted(c.host for c in client.transport.connection_pool.connections)
    assert ports == ["http://127.0.0.1:9236", "http://127.0.0.1:9237", "http://127.0.0.1:9238"]


def test_one_url_is_one_host():
    assert OpenSearchSettings(url="https://search.example.com:9200").hosts == ["https://search.example.com:9200"]


def test_a_url_without_any_node_is_a_config_error(monkeypatch):
    monkeypatch.setenv("RECSEARCH_OPENSEARCH_URL", " , ")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="RECSEARCH_OPENSEARCH_URL.*at least one node URL"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_credentials_are_hidden_in_every_url_of_a_list():
    urls = "https://admin:s3cret@a.example:9200,https://admin:s3cret@b.example:9200"
    assert without_userinfo(urls) == "https://a.example:9200,https://b.example:9200"
    assert mask_password(urls) == "https://admin:****@a.example:9200,https://admin:****@b.example:9200"


def test_a_comma_in_a_password_is_not_a_list_of_urls():
    url = "postgresql+psycopg://shop:pa,ss@db.example/recsearch"
    assert mask_password(url) == "postgresql+psycopg://shop:****@db.example/recsearch"
    assert without_userinfo(url) == "postgresql+psycopg://db.example/recsearch"


def test_cluster_members_have_their_own_ports_and_folders_and_find_each_other(tmp_path):
    s = NodeSettings(home=tmp_path / "os", http_port=9400, transport_port=9500)
    cluster = LocalCluster(s, 3, root=tmp_path / "c")
    assert cluster.url == "http://127.0.0.1:9400,http://127.0.0.1:9401,http://127.0.0.1:9402"
    assert [m.transport_port for m in cluster.members] == [9500, 9501, 9502]
    assert len({m.data for m in cluster.members} | {m.logs for m in cluster.members}) == 6
    assert {m.dist for m in cluster.members} == {cluster.installer.dist}  # one installation
    args = cluster.members[2].node_args()
    assert "-Enode.name=node-2" in args
    assert "-Ediscovery.seed_hosts=127.0.0.1:9500,127.0.0.1:9501,127.0.0.1:9502" in args
    assert "-Ecluster.initial_cluster_manager_nodes=node-0,node-1,node-2" in args
    assert cluster.members[1]._conf_env() == {"OPENSEARCH_PATH_CONF": str(tmp_path / "c" / "node-1" / "config")}


def test_a_cluster_of_one_is_refused(tmp_path):
    with pytest.raises(NodeError, match="at least 2 nodes"):
        LocalCluster(NodeSettings(home=tmp_path), 1)
    with pytest.raises(NodeError, match="no node 3 in a cluster of 3"):
        LocalCluster(NodeSettings(home=tmp_path), 3).stop_node(3)


def test_a_503_without_a_body_says_the_cluster_is_unavailable():
    """A HEAD request (index or alias exists) to a cluster without a cluster manager gets a 503 and no body."""
    from opensearchpy.exceptions import TransportError

    from core.errors import OpenSearchError
    from core.opensearch.client import translate_errors

    with pytest.raises(OpenSearchError) as failed, translate_errors("http://u:p@a:9200,http://u:p@b:9200"):
        raise TransportError(503, "", {})
    assert str(failed.value) == (
        "OpenSearch at http://a:9200,http://b:9200 answered HTTP 503: the cluster is unavailable (too few nodes, "
        "or no elected cluster manager; see _cluster/health)"
    )
