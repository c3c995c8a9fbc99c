"""A local GGUF model run by llama.cpp (llama-cpp-python): greedy chat generation on the CPU, no de-quantizing.

The GGUF file is loaded as it is (SmolLM2-135M Q4_1: well under a second) and its own chat template formats the
conversations. Items are generated one after another, not in a padded batch: llama-cpp-python keeps the KV cache
of the previous prompt and evaluates only what differs, so the shared system message and worked example are
computed once, and no sequence waits for the longest one of its batch (measured against transformers' batched
generation by ``bench/bench_enrich_speed.py``; docs/enrichment.md has the figures). Half the cores run it (see
:func:`cpu_threads`).

An optional JSON schema becomes a llama.cpp grammar (built once per schema) that constrains every answer to it;
:mod:`.llamacpp_greedy` decodes with it checking only the greedy token against the grammar, as llama.cpp's own
tools do, instead of filtering the whole vocabulary at every token as ``create_chat_completion`` does.
"""

from __future__ import annotations

import atexit
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.errors import ModelError
from indexer.enrichment.llm import Messages
from indexer.enrichment.llm.llamacpp_greedy import GreedyDecoder

#: Context window in tokens: the prompt, a retry's rejected answer and note, and the new tokens fit well inside.
N_CTX = 4096


def llamacpp_available() -> bool:
    """Whether llama-cpp-python imports (its compiled library loads) on this machine."""
    try:
        import llama_cpp  # noqa: F401
    except (ImportError, OSError):  # not installed, or a build whose shared library cannot load here
        return False
    return True


def cpu_threads() -> int:
    """Threads for llama.cpp: half the cores this process may run on (llama-cpp-python's own default), at least 1.

    Not all of them: llama.cpp's threads wait for each other at every layer, spinning, so one thread the OS takes
    away for another process stalls the rest. Measured on the shared 2-core machine under load (SmolLM2-135M, 4
    items x 64 tokens): 1 thread 21-38 tokens/s, 2 threads 2-5 tokens/s."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


@lru_cache(maxsize=4)
def _grammar(schema_json: str):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)


class LlamaCppLLM:
    """A GGUF chat model in llama.cpp; ``generate`` answers the conversations in order, greedily."""

    def __init__(self, gguf: Path, name: str, n_threads: int | None = None, n_ctx: int = N_CTX):
        from llama_cpp import Llama

        threads = n_threads or cpu_threads()
        try:
            self.llama = Llama(
                model_path=str(gguf), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, seed=0, verbose=False
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelError(f"llama.cpp cannot load {gguf}: {str(e).splitlines()[0]}") from None
        # Freed before the interpreter tears its modules down: llama-cpp-python's own finalizer would run after
        # and print an ignored TypeError at every exit.
        atexit.register(self.llama.close)
        self.name = name
        self.engine = "llamacpp"
        # The fast greedy loop where the model formats chats with its own template (every GGUF this project
        # ships); a model llama-cpp-python gives another chat format keeps create_chat_completion.
        self.decoder = GreedyDecoder(self.llama) if GreedyDecoder.supports(self.llama) else None

    def generate(
        self, conversations: Sequence[Messages], max_new_tokens: int, json_schema: dict[str, Any] | None = None
    ) -> list[str]:
        """One answer per conversation; with ``json_schema`` every answer is constrained to that schema."""
        grammar = _grammar(json.dumps(json_schema, sort_keys=True)) if json_schema else None
        answers = []
        for messages in conversations:
            try:
                if self.decoder is not None:
                    answers.append(self.decoder.complete(messages, max_new_tokens, grammar).strip())
                    continue
                response = self.llama.create_chat_completion(
                    messages=list(messages),  # type: ignore[arg-type]
                    max_tokens=max_new_tokens,
                    temperature=0.0,  # greedy: cached enrichments are reproducible
                    repeat_penalty=1.0,  # none, as in the transformers engine: the same model gives the same answers
                    grammar=grammar,
                )
            except ValueError as e:  # e.g. a prompt longer than the context window
                raise ModelError(f"llama.cpp could not answer: {str(e).splitlines()[0]}") from None
            answers.append(str(response["choices"][0]["message"]["content"] or "").strip())  # type: ignore[index]
        return answers
