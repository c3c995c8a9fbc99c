"""Greedy decoding in llama.cpp with a grammar checked on the greedy token first, as llama.cpp's own tools do.

``Llama.create_chat_completion(grammar=...)`` puts the grammar in the sampler chain, so every new token runs the
grammar over the whole vocabulary (49,152 tokens for SmolLM2) before the greedy pick: measured 15 ms a token on
the shared CPU, 29% of an enrichment run whose answers need ~36 ms a token of model evaluation
(``bench/bench_enrich_speed.py``, docs/enrichment.md). llama.cpp's ``common_sampler_sample`` avoids this by asking
the grammar about the one token sampling chose and filtering the whole vocabulary only when that token is
rejected. For greedy decoding the answer is the same token either way: the first highest logit is allowed, so it
is also the first highest among the allowed ones; only a rejected one costs the full pass.

:class:`GreedyDecoder` is that loop over llama-cpp-python's public pieces (``eval``, ``tokenize``,
``detokenize``, the logits and grammar-sampler C functions), and otherwise mirrors ``create_completion``: the chat
template's prompt, the KV cache of the previous prompt's common prefix reused, stop at an end-of-generation
token, the chat template's stop text or ``max_tokens``, and the same text out.
``tests/unit/indexer/enrichment/test_llamacpp_greedy.py`` checks, on the real model, that every pick equals the
full chain's and that its answers and the enrichments cached from them equal ``create_chat_completion``'s.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

#: Tokens tried, best first, when the greedy one breaks the grammar, before the whole vocabulary is filtered.
SHORTLIST = 1024


class GreedyDecoder:
    """Greedy chat completions of one ``llama_cpp.Llama`` (its ``chat_template.default`` chat format)."""

    def __init__(self, llama):
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llama, self._c = llama, llama_cpp
        model = llama._model  # the same token texts Llama's own chat handler is built from
        eos, bos = llama.token_eos(), llama.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
        )
        self.vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self.n_vocab = llama.n_vocab()
        # The candidate array the grammar filters, sized for the whole vocabulary and made once.
        self._data = np.zeros(self.n_vocab, dtype=np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)]))
        self._array = llama_cpp.llama_token_data_array(
            self._data.ctypes.data_as(llama_cpp.llama_token_data_p), self.n_vocab, -1, False
        )
        self._ids = np.arange(self.n_vocab, dtype=np.intc)

    @staticmethod
    def supports(llama) -> bool:
        """True when ``llama`` formats chats with its GGUF file's own template (the format this decoder builds)."""
        return (
            llama.chat_handler is None
            and llama.chat_format == "chat_template.default"
            and "tokenizer.chat_template" in llama.metadata
        )

    def complete(self, messages: Sequence[dict], max_tokens: int, grammar=None) -> str:
        """The greedy answer to one conversation, constrained to ``grammar`` (a ``LlamaGrammar``) when given."""
        formatted = self.formatter(messages=list(messages))
        prompt = self.llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        n_ctx = self.llama.n_ctx()
        if len(prompt) >= n_ctx:  # the message create_completion gives
            raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {n_ctx}")
        max_tokens = min(max_tokens, n_ctx - len(prompt)) if max_tokens > 0 else n_ctx - len(prompt)
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop]
        stops = [s.encode("utf-8") for s in stop if s]
        sampler = None
        if grammar is not None:
            sampler = self._c.llama_sampler_init_grammar(
                self.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
            )
        try:
            return self._decode(prompt, max_tokens, stops, sampler)
        finally:
            if sampler is not None:
                self._c.llama_sampler_free(sampler)

    def _decode(self, prompt: list[int], max_tokens: int, stops: list[bytes], sampler) -> str:
        llama = self.llama
        self._eval_prompt(prompt)
        tokens: list[int] = []
        multibyte_fix = 0
        while True:
            token = self._pick(sampler)
            if self._c.llama_vocab_is_eog(self.vocab, token):
                return llama.detokenize(tokens, prev_tokens=prompt).decode("utf-8", errors="ignore")
            tokens.append(token)
            text = llama.detokenize(tokens, prev_tokens=prompt)
            # As create_completion: a token that ends inside a UTF-8 character is not checked for stop text or
            # the token limit until the character is whole.
            for k, char in enumerate(text[-3:]):
                k = 3 - k
                for num, pattern in ((2, 192), (3, 224), (4, 240)):
                    if num > k and pattern & char == pattern:
                        multibyte_fix = num - k
            if multibyte_fix > 0:
                multibyte_fix -= 1
            else:
                found = [s for s in stops if s in text]
                if found:
                    return text[: text.index(found[0])].decode("utf-8", errors="ignore")
                if len(tokens) >= max_tokens:
                    return text.decode("utf-8", errors="ignore")
            llama.eval([token])

    def _eval_prompt(self, prompt: list[int]) -> None:
        """Evaluate ``prompt``, keeping the KV cache of its longest common prefix with what was evaluated before."""
        llama = self.llama
        done = llama.input_ids[: llama.n_tokens]
        common = 0
        for a, b in zip(done, prompt, strict=False):
            if a != b:
                break
            common += 1
        if common == len(prompt) == llama.n_tokens and not llama._requires_eval:
            return  # as Llama.generate: the prompt is what was just evaluated, and its logits are still there
        keep = min(common, len(prompt) - 1)  # at least one token is evaluated, for fresh logits
        memory = self._c.llama_get_memory(llama.ctx)
        if keep > 0 and not self._c.llama_memory_seq_rm(memory, 0, keep, -1):
            keep = 0  # a model whose cache cannot be cut (recurrent): start over
        if keep == 0:
            llama.reset()
        llama.n_tokens = keep
        llama.eval(prompt[keep:])

    def _pick(self, sampler) -> int:
        """The greedy next token among those ``sampler`` (a grammar) allows; the grammar then accepts it."""
        logits = np.ctypeslib.as_array(self._c.llama_get_logits_ith(self.llama.ctx, -1), shape=(self.n_vocab,))
        if sampler is None:
            return int(np.argmax(logits))  # the first highest, as llama.cpp's greedy sampler
        token = self.choose(logits, sampler)
        self._c.llama_sampler_accept(sampler, token)
        return token

    def choose(self, logits: np.ndarray, sampler) -> int:
        """The token the grammar-then-greedy chain picks from ``logits`` (the first highest among the allowed).

        The greedy token when the grammar allows it; else the best allowed of the ``SHORTLIST`` highest when its
        logit is above every other token's; else the best of the whole vocabulary, filtered."""
        token = int(np.argmax(logits))
        if self._filter(sampler, np.array([token], dtype=np.intc), logits)[0] != -np.inf:
            return token
        k = min(SHORTLIST, self.n_vocab)
        short = np.argpartition(logits, -k)[-k:].astype(np.intc)
        allowed = self._filter(sampler, short, logits)
        best = allowed.max()
        if best > logits[short].min():  # every token outside the shortlist scores lower
            return int(short[allowed == best].min())
        return int(np.argmax(self._filter(sampler, self._ids, logits)))  # none allowed, or a tie with an outsider

    def _filter(self, sampler, ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """The logits of ``ids`` after the grammar: -inf for each token it does not allow next."""
        n = len(ids)
        self._data["id"][:n], self._data["logit"][:n], self._data["p"][:n] = ids, logits[ids], 0.0
        array = self._array
        array.data = self._data.ctypes.data_as(self._c.llama_token_data_p)  # a sampler may move the pointer
        array.size, array.selected, array.sorted = n, -1, False
        self._c.llama_sampler_apply(sampler, ctypes.byref(array))
        return self._data["logit"][:n].copy()
