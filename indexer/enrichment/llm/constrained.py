"""Schema-constrained decoding for the local backend: llguidance masks every token the JSON schema forbids.

llguidance (the grammar engine behind llama.cpp's and vLLM's ``json_schema`` support, from PyPI as wheels) compiles
the schema into a matcher over the tokenizer's vocabulary; :class:`SchemaLogitsProcessor` keeps one matcher per row
of a batch and sets the logits of forbidden tokens to -inf before the greedy choice, so the answer always parses
and the category is always a taxonomy term. lm-format-enforcer was the first choice, but its transformers
integration does not import with transformers 5 (``transformers.tokenization_utils`` moved).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def available() -> bool:
    """True when llguidance is installed (the local backend decodes unconstrained without it)."""
    try:
        import llguidance  # noqa: F401
    except ImportError:
        return False
    return True


class SchemaGrammar:
    """A JSON schema compiled once for one tokenizer (building the token table takes ~0.5 s)."""

    def __init__(self, tokenizer: Any):
        import llguidance.hf

        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer)
        self._grammars: dict[str, str] = {}

    def grammar(self, schema: dict[str, Any]) -> str:
        """The llguidance grammar of ``schema`` (cached by the schema's text)."""
        import llguidance

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = llguidance.LLMatcher.grammar_from_json_schema(
                schema, defaults={"whitespace_flexible": False}
            )
        return self._grammars[key]

    def processor(self, schema: dict[str, Any], rows: int, prompt_length: int, pad_token_id: int):
        """A transformers logits processor for one ``generate`` call over ``rows`` padded prompts."""
        import llguidance

        matchers = [llguidance.LLMatcher(self._tokenizer, self.grammar(schema)) for _ in range(rows)]
        return SchemaLogitsProcessor(matchers, prompt_length, pad_token_id)


class SchemaLogitsProcessor:
    """Masks, row by row, the tokens the row's matcher does not allow next; a finished row may only pad."""

    def __init__(self, matchers: list, prompt_length: int, pad_token_id: int):
        self.matchers, self.prompt_length, self.pad = matchers, prompt_length, pad_token_id
        self.done = [False] * len(matchers)

    def __call__(self, input_ids, scores):
        import torch

        vocab = scores.shape[1]
        started = input_ids.shape[1] > self.prompt_length
        for row, matcher in enumerate(self.matchers):
            if started and not self.done[row]:
                matcher.consume_token(int(input_ids[row, -1]))
            if self.done[row] or matcher.is_stopped() or matcher.is_error():
                self.done[row] = True
                scores[row, :] = float("-inf")
                scores[row, self.pad] = 0.0
                continue
            bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
            allowed = np.zeros(vocab, dtype=bool)
            allowed[: min(vocab, len(bits))] = bits[:vocab].astype(bool)
            scores[row, torch.from_numpy(~allowed).to(scores.device)] = float("-inf")
        return scores
