"""What the local node gives the recsearch plugin: the allow-list and keystore key, derived from the settings."""

from __future__ import annotations

import zipfile

from pydantic import SecretStr

from core.opensearch.node import ALLOWED_URLS_SETTING, LocalNode, project_node_settings
from core.settings import NodeSettings, PipelineSettings, ServiceSettings, Settings


def _settings(**node) -> Settings:
    return Settings(
        node=NodeSettings(**node),
        pipeline=PipelineSettings(ranker_url="http://ranker.internal:8100/", api_key=SecretStr("k1")),
        service=ServiceSettings(host="0.0.0.0", port=8200),
    )


def test_the_allow_list_is_the_pipelines_ranker_and_the_service_and_the_key_the_pipelines():
    node = project_node_settings(_settings())
    assert node.rerank_allowed_urls == ["http://ranker.internal:8100", "http://127.0.0.1:8200"]
    assert node.rerank_api_key.get_secret_value() == "k1"


def test_explicit_node_settings_win():
    node = project_node_settings(_settings(rerank_allowed_urls=["https://r.example/x"], rerank_api_key="k2"))
    assert node.rerank_allowed_urls == ["https://r.example/x"]
    assert node.rerank_api_key.get_secret_value() == "k2"


def _plugin_zip(path, name):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("plugin-descriptor.properties", f"name={name}\n")
    return path


def test_the_allow_list_is_a_start_option_only_with_the_plugin_and_a_change_is_noticed(tmp_path):
    ours = _plugin_zip(tmp_path / "recsearch-rerank-3.5.0.0.zip", "recsearch-rerank")
    base = NodeSettings(home=tmp_path / "node", rerank_allowed_urls=["http://127.0.0.1:*", "http://r:1"])
    assert LocalNode(base)._rerank_args() == []  # a node without the plugin would refuse the unknown setting
    node = LocalNode(base.model_copy(update={"extra_plugins": [ours]}))
    assert node._rerank_args() == [f"-E{ALLOWED_URLS_SETTING}=http://127.0.0.1:*,http://r:1"]
    other_list = LocalNode(node.s.model_copy(update={"rerank_allowed_urls": ["http://r:1"]}))
    other_key = LocalNode(node.s.model_copy(update={"rerank_api_key": SecretStr("new")}))
    assert len({node._rerank_digest(), other_list._rerank_digest(), other_key._rerank_digest()}) == 3
    assert "new" not in other_key._rerank_digest()
