"""The `personalized` search pipeline: the project's OpenSearch plugin processor, installed from settings.

A shop then searches with ``?search_pipeline=personalized`` and ``"ext": {"personalize": {"user_id": ...}}``
and gets the hits reranked for that user (docs/plugin.md). The processor itself lives in ``plugin/`` (Java);
this module only stores, removes and inspects its pipeline definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, OpenSearchError, ResourceMissing
from core.opensearch.client import make_client, translate_errors
from core.redact import without_userinfo
from core.settings import PipelineSettings, Settings

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

#: The plugin's name (plugin/pom.xml) and its processor types: the response processor that reranks, and the request
#: processor that widens a page to the fixed window it is a slice of (pagination, docs/plugin.md).
PLUGIN_NAME = "recsearch-rerank"
PROCESSOR_TYPE = "personalized_rerank"
WINDOW_PROCESSOR_TYPE = "personalized_window"

#: Pipeline settings stored under another name than the RECSEARCH_PIPELINE_* variable that sets them.
_SETTING_OF_PROPERTY = {"window_size": "max_hits"}


@dataclass(frozen=True)
class PipelineState:
    """What `recadmin pipeline status` reports."""

    name: str
    plugin_nodes: int
    total_nodes: int
    installed: bool
    processor: dict[str, Any] | None = None


def pipeline_body(p: PipelineSettings) -> dict[str, Any]:
    """The pipeline definition for ``PUT _search/pipeline/<name>``.

    Without the API key: a pipeline is cluster state, which any reader of ``GET _search/pipeline`` sees. The key
    lives in each node's keystore (``recsearch.rerank.api_key``; `recadmin opensearch start` puts it there).

    The window is ``max_hits``: every page of a search is a slice of its top ``max_hits`` hits reranked, then
    OpenSearch's order (a larger window would fetch hits nobody reranks, a smaller one rerank fewer)."""
    window: dict[str, Any] = {
        "tag": "recsearch",
        "description": "Ask OpenSearch for the fixed window of top hits every page of a personalized search is a "
        "slice of (recsearch).",
        "window_size": p.max_hits,
    }
    processor: dict[str, Any] = {
        "tag": "recsearch",
        "description": "Rerank the top hits for the user in ext.personalize.user_id (recsearch ranker).",
        "ranker_url": p.ranker_url,
        "id_field": p.id_field,
        "blend_weight": p.blend_weight,
        "timeout_ms": p.timeout_ms,
        "max_hits": p.max_hits,
        "ignore_failure": p.ignore_failure,
    }
    return {
        "description": "recsearch: personalized rerank of the shop's search results",
        "request_processors": [{WINDOW_PROCESSOR_TYPE: window}],
        "response_processors": [{PROCESSOR_TYPE: processor}],
    }


def plugin_coverage(client: OpenSearch, url: str) -> tuple[int, int]:
    """(nodes with the plugin, all nodes): the processor only works where every node has it."""
    with translate_errors(url):
        info = client.nodes.info(metric="plugins")
    nodes = info.get("nodes", {})
    having = sum(1 for n in nodes.values() if any(p.get("name") == PLUGIN_NAME for p in n.get("plugins", [])))
    return having, len(nodes)


def install_pipeline(settings: Settings, client: OpenSearch | None = None) -> PipelineState:
    """Store (or replace) the pipeline. Refuses when the plugin is missing; a setting the processor refuses
    becomes a :class:`ConfigError` naming it."""
    client = client or make_client(settings.opensearch)
    url, p = without_userinfo(settings.opensearch.url), settings.pipeline
    having, total = plugin_coverage(client, url)
    if having < total or total == 0:
        raise OpenSearchError(
            f"the {PLUGIN_NAME} plugin is on {having} of {total} nodes of {url}; build it with scripts/build-plugin "
            "and install it on every node (`opensearch-plugin install file:///.../recsearch-rerank-*.zip`)"
        )
    from opensearchpy import exceptions as ex

    with translate_errors(url):
        try:
            client.search_pipeline.put(id=p.name, body=pipeline_body(p))
        except ex.RequestError as e:  # 400: the processor refused a setting; name it as the user sets it
            raise ConfigError(_refusal(p.name, e)) from None
    return pipeline_status(settings, client)


def _refusal(name: str, e: Exception) -> str:
    error = (getattr(e, "info", None) or {}).get("error") or {}
    if isinstance(error, dict):
        cause = (error.get("root_cause") or [error])[0]
        reason = str(cause.get("reason") or error.get("reason") or e)
        prop = cause.get("property_name")
    else:
        reason, prop = str(error), None
    # Square brackets read as markup in the CLI's console: quote the setting names instead.
    reason = reason.replace("[", "'").replace("]", "'")
    setting = _SETTING_OF_PROPERTY.get(prop, prop) if prop else None
    where = f" (setting {prop}: RECSEARCH_PIPELINE_{setting.upper()})" if setting else " (see RECSEARCH_PIPELINE_*)"
    return f"OpenSearch refused pipeline '{name}': {reason}{where}"


def remove_pipeline(settings: Settings, client: OpenSearch | None = None) -> bool:
    """Delete the pipeline; False when there was none."""
    client = client or make_client(settings.opensearch)
    name = settings.pipeline.name
    try:
        with translate_errors(settings.opensearch.url):
            client.search_pipeline.delete(id=name)
    except ResourceMissing:
        return False
    return True


def pipeline_status(settings: Settings, client: OpenSearch | None = None) -> PipelineState:
    """Whether the plugin is on every node and the pipeline is stored, with its processor settings."""
    client = client or make_client(settings.opensearch)
    url, name = without_userinfo(settings.opensearch.url), settings.pipeline.name
    having, total = plugin_coverage(client, url)
    processor = None
    try:
        with translate_errors(url):
            stored = client.search_pipeline.get(id=name)
    except ResourceMissing:
        stored = {}
    for proc in (stored.get(name) or {}).get("response_processors", []):
        if PROCESSOR_TYPE in proc:
            processor = dict(proc[PROCESSOR_TYPE])
            if "api_key" in processor:
                processor["api_key"] = "****"
    for proc in (stored.get(name) or {}).get("request_processors", []):
        if WINDOW_PROCESSOR_TYPE in proc and processor is not None:
            # What status shows: the page window beside the reranking settings (absent: pages reranked one by one).
            processor["window_size"] = proc[WINDOW_PROCESSOR_TYPE].get("window_size")
    return PipelineState(
        name=name, plugin_nodes=having, total_nodes=total, installed=name in stored, processor=processor
    )
