"""Publishing a model's learned vectors into a live version in place (``recadmin models activate`` of another model
on an existing index): a partial update per item, with the version's refresh interval left as it is ("before")
against refresh off during the updates ("after", what the product does now), in the same run.

    for one synthetic catalog of N items (bench/synth_shop.py, DIM-dim vectors of its own) built once, then
    ROUNDS rounds of: model A published with refresh on, model B with refresh off (each publication replaces the
    other model's vectors, so every round writes every item); items/s of each, and their ratio.

    PYTHONPATH=. .venv/bin/python bench/bench_publish.py [--items 10000] [--dim 64] [--rounds 2] [--json PATH]

Needs a running node (RECSEARCH_OPENSEARCH_URL); writes to an alias of its own and deletes it after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from bench.bench_service_scale import seeded_checkpoint
    from bench.service_scale import _settings
    from bench.synth_shop import ShopParams, generate
    from core.opensearch.client import make_client
    from indexer import api
    from ranker.model import publish_learned_vectors
    from ranker.model.item_vectors import ItemVectors

    folder = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    alias = f"bench-publish-{uuid.uuid4().hex[:6]}"
    settings = _settings(folder, alias)
    client = make_client(settings.opensearch)
    runs: list[dict] = []
    try:
        generate(ShopParams(items=args.items, users=1, events=0, days=1, seed=3, vectors=args.dim), folder)
        api.build_from_catalog(settings, folder / "catalog.parquet", vector_field="vector")
        items = ItemVectors.from_index(settings)
        models = {False: seeded_checkpoint(items, "refresh-on", seed=1), True: seeded_checkpoint(items, "refresh-off",
                                                                                                  seed=2)}  # fmt: skip
        for r in range(args.rounds):
            for refresh_off in (False, True):
                start = time.perf_counter()
                done = publish_learned_vectors(settings, models[refresh_off], items=items, refresh_off=refresh_off)
                seconds = time.perf_counter() - start
                assert done is not None and done.written and done.items == args.items, done
                row = {"round": r, "refresh": "off" if refresh_off else "on", "seconds": round(seconds, 2),
                       "items_per_s": round(args.items / seconds), "load": round(os.getloadavg()[0], 1)}  # fmt: skip
                runs.append(row)
                print(json.dumps(runs[-1]), flush=True)
    finally:
        client.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
        shutil.rmtree(folder, ignore_errors=True)
    on = sum(r["seconds"] for r in runs if r["refresh"] == "on")
    off = sum(r["seconds"] for r in runs if r["refresh"] == "off")
    result = {"items": args.items, "dim": args.dim, "runs": runs,
              "items_per_s": {"refresh_on": round(args.items * args.rounds / on),
                              "refresh_off": round(args.items * args.rounds / off)},
              "speedup": round(on / off, 2)}  # fmt: skip
    print(
        f"in-place publication of {args.items:,} items x {args.dim}: refresh on {result['items_per_s']['refresh_on']} "
        f"items/s, refresh off {result['items_per_s']['refresh_off']} items/s -> {result['speedup']}x",
        flush=True,
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
