"""The pipeline definition `recadmin pipeline install` stores, and how a refused setting is reported."""

from __future__ import annotations

from pydantic import SecretStr

from core.settings import PipelineSettings
from indexer.search_pipeline import PROCESSOR_TYPE, WINDOW_PROCESSOR_TYPE, _refusal, pipeline_body


def test_body_carries_every_setting_but_never_the_key():
    p = PipelineSettings(ranker_url="http://ranker:8000", blend_weight=0.3, timeout_ms=150, max_hits=50)
    proc = pipeline_body(p)["response_processors"][0][PROCESSOR_TYPE]
    assert (proc["ranker_url"], proc["blend_weight"], proc["timeout_ms"], proc["max_hits"]) == (
        "http://ranker:8000",
        0.3,
        150,
        50,
    )
    assert proc["id_field"] == "item_id" and proc["ignore_failure"] is True and "api_key" not in proc
    # The key is cluster state once in a pipeline (GET _search/pipeline shows it): it goes to the node keystore.
    keyed = pipeline_body(p.model_copy(update={"api_key": SecretStr("k1")}))
    assert "api_key" not in keyed["response_processors"][0][PROCESSOR_TYPE] and "k1" not in str(keyed)


def test_a_refusal_names_the_setting_and_its_environment_variable():
    class Refused(Exception):
        info = {"error": {"root_cause": [{"reason": "[blend_weight] must be between 0 and 1, got [1.5]",
                                          "property_name": "blend_weight"}]}}  # fmt: skip

    message = _refusal("personalized", Refused())
    assert "'blend_weight' must be between 0 and 1" in message
    assert "RECSEARCH_PIPELINE_BLEND_WEIGHT" in message and "[" not in message


def test_the_page_window_is_max_hits_so_every_page_is_a_slice_of_what_is_reranked():
    body = pipeline_body(PipelineSettings(max_hits=40))
    [request_processor] = body["request_processors"]
    assert request_processor[WINDOW_PROCESSOR_TYPE]["window_size"] == 40
    assert body["response_processors"][0][PROCESSOR_TYPE]["max_hits"] == 40


def test_a_refused_window_names_the_setting_that_sets_it():
    class Refused(Exception):
        info = {"error": {"root_cause": [{"reason": "[window_size] must be between 1 and 10000, got [0]",
                                          "property_name": "window_size"}]}}  # fmt: skip

    assert "RECSEARCH_PIPELINE_MAX_HITS" in _refusal("personalized", Refused())
