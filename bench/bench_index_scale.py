"""Index build at scale with the catalog's own vectors, against a raw opensearch-py bulk in the same run.

    for each size N (a synthetic catalog with DIM-dimensional vectors, bench/synth_shop.py, Parquet):
    raw bulk         opensearch-py ``helpers.bulk`` of the product's documents (already in memory) into a new index of
                     the same mapping (refresh off while loading, one refresh after), chunks of the same size; then
                     deleted, so its background merges do not run beside the build
    build            ``recadmin index build --vector-field vector`` as a library call (indexer.api.build_from_catalog):
                     read and check the file, documents and hashes, streaming bulk, refresh, alias swap
      goal           build items/s >= 0.8 x raw bulk items/s
    rebuild          the same catalog built again (unchanged: the build digest in the live version's _meta matches,
                     nothing is read or written)
      goal           >= 50x faster than the first build
    hashes           reading every doc_hash of the live version (the per-document path of a changed catalog):
                     doc values (what the build does) against _source filtering, pages of 10,000
    also             peak RSS of each phase (each runs in a process of its own)

    PYTHONPATH=. .venv/bin/python bench/bench_index_scale.py [--sizes 10000,100000] [--dim 384] [--json PATH]

Needs a running node (`recadmin opensearch start`; RECSEARCH_OPENSEARCH_URL); writes to aliases of its own and
deletes them after. 1,000,000 items is allowed (--sizes 1000000): the catalog is generated in chunks.
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _settings(alias: str, store: str | None = None):
    """Settings of one phase: ``alias``; ``store``: the SQL store whose active model's learned vectors the build
    writes (the service bench's; None: an empty one, no model)."""
    from core.settings import OpenSearchSettings, Settings, StoreSettings, get_settings

    base = get_settings()
    state = Path(tempfile.mkdtemp(prefix="bench-index-scale-"))
    atexit.register(shutil.rmtree, state, ignore_errors=True)  # each phase's process removes its own on exit
    return Settings(
        opensearch=OpenSearchSettings(**{**base.opensearch.model_dump(), "index_alias": alias}),
        store=StoreSettings(url=store or "sqlite://"),
        state_dir=state,
    )


def _peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM`` (Linux). Not ``ru_maxrss``: Linux carries the forking parent's RSS over
    into it across exec, so every phase would report at least this bench's own peak (the generated catalog)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_build(catalog: Path, alias: str, store: str | None = None) -> dict:
    """One ``index build`` of ``catalog`` (with its vector column) into ``alias``; with ``store``, as ``recadmin
    index build`` runs it: the active model's learned vectors written with each document (loaded inside the timed
    part, as the command does)."""
    from indexer import api

    settings = _settings(alias, store)
    learned = None
    if store:
        from ranker.model import active_learned_vectors

        def learned():
            return active_learned_vectors(settings)

    start = time.perf_counter()
    done = api.build_from_catalog(settings, catalog, vector_field="vector", learned=learned)
    seconds = time.perf_counter() - start
    r = done.result
    from indexer.api import items_index
    from indexer.learned import learned_model

    return {"seconds": seconds, "up_to_date": r.up_to_date, "given": r.given, "indexed": r.indexed,
            "learned_model": learned_model(items_index(settings)), "rss_mb": _peak_rss_mb()}  # fmt: skip


def phase_bulk(catalog: Path, alias: str, store: str | None = None) -> dict:
    """The baseline: the product's documents built in memory first (untimed), then a raw ``helpers.bulk``; with
    ``store``, the same documents as the build's: the active model's learned vectors computed first (untimed; held
    as one array, made lists as they are sent) and their field in the mapping."""
    import numpy as np
    from opensearchpy import helpers

    from indexer.build import item_document
    from indexer.catalog import VectorColumn, read_catalog
    from indexer.index import index_body
    from indexer.learned_field import BEHAVIOUR_FIELD, field_mapping
    from indexer.vectors import catalog_space

    settings = _settings(alias, store)
    items = read_catalog(catalog, vectors=VectorColumn("vector")).items
    model = catalog_space("vector")
    docs = [{**item_document(it, None, None, model), "vector": it.vector.tolist()} for it in items]
    learned, extra = None, None
    if store:
        from ranker.model import active_learned_vectors

        provider = active_learned_vectors(settings)
        assert provider is not None, "no active model with a sequence model in the store"
        learned = np.concatenate([provider.vectors([it.id for it in items[i : i + 4096]],
                                                   np.stack([it.vector for it in items[i : i + 4096]]))
                                  for i in range(0, len(items), 4096)])  # fmt: skip
        extra = {BEHAVIOUR_FIELD: field_mapping(provider.dim)}
    from core.opensearch.client import make_client

    client = make_client(settings.opensearch)
    name = f"{alias}-raw"
    start = time.perf_counter()
    client.indices.create(index=name, body=index_body(items[0].vector.size, {}, extra=extra))
    actions = (
        {"_index": name, "_id": d["item_id"],
         "_source": d if learned is None else {**d, BEHAVIOUR_FIELD: learned[n].tolist()}}
        for n, d in enumerate(docs)
    )  # fmt: skip
    ok, errors = helpers.bulk(client, actions, chunk_size=settings.opensearch.bulk_chunk_size, max_retries=3)
    client.indices.put_settings(index=name, body={"index": {"refresh_interval": "1s"}})
    client.indices.refresh(index=name)
    seconds = time.perf_counter() - start
    assert ok == len(docs) and not errors, errors
    return {"seconds": seconds, "indexed": ok, "rss_mb": _peak_rss_mb()}


def phase_hashes(catalog: Path, alias: str) -> dict:
    """Every ``doc_hash`` of the live version: from doc values (the build's way) and from ``_source``."""
    from core.opensearch.client import make_client
    from core.opensearch.documents import iter_documents
    from indexer.build import existing_hashes

    client = make_client(_settings(alias).opensearch)
    live = sorted(client.indices.get_alias(name=alias))[-1]
    start = time.perf_counter()
    by_docvalues = existing_hashes(client, live)
    docvalues_s = time.perf_counter() - start
    start = time.perf_counter()
    by_source = {h["_id"]: h["_source"]["doc_hash"] for h in iter_documents(client, live, ["doc_hash"], 10_000)}
    source_s = time.perf_counter() - start
    assert by_docvalues == by_source
    return {"docvalues_s": docvalues_s, "source_s": source_s, "rss_mb": _peak_rss_mb()}


def _say(phase: str, result: dict) -> dict:
    """Print a phase's result as it ends (a later phase's failure keeps it in the log), and return it."""
    print(f"  [{time.strftime('%H:%M:%S')}] {phase}: {json.dumps(result)}", flush=True)
    return result


def _run_phase(phase: str, catalog: Path, alias: str, store: str | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--catalog", str(catalog), "--alias", alias,
         *(["--store", store] if store else [])],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--phase", choices=list(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--alias", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        args_store = {"store": args.store} if args.store else {}
        print(json.dumps(PHASES[args.phase](args.catalog, args.alias, **args_store)))
        return

    from bench.synth_shop import ShopParams, generate
    from core.opensearch.client import make_client

    client = make_client(_settings("x").opensearch)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        folder = Path(tempfile.mkdtemp())
        generate(ShopParams(items=size, users=1, events=0, days=1, seed=args.seed, vectors=args.dim), folder)
        catalog = folder / "catalog.parquet"
        alias = f"bench-scale-{uuid.uuid4().hex[:8]}"
        try:
            bulk = _say("bulk", _run_phase("bulk", catalog, alias))
            # The raw index's k-NN merges run on after its refresh (minutes at 1M): deleted now, so they do not take
            # the node's cores from the build that follows (the delete waits for them to stop).
            client.indices.delete(index=f"{alias}-raw", request_timeout=900)
            first = _say("build", _run_phase("build", catalog, alias))
            second = _say("rebuild", _run_phase("build", catalog, alias))
            hashes = _say("hashes", _run_phase("hashes", catalog, alias))
        finally:
            # Deleting waits for the shards to close, i.e. for the k-NN merges still running after a large load
            # (2 minutes after the 1M x 64 build): a request timeout of its own, past the client's 30 s.
            client.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True,
                                  request_timeout=900)  # fmt: skip
            shutil.rmtree(folder, ignore_errors=True)
        assert first["given"] == size and second["up_to_date"], (first, second)
        row = {
            "items": size, "dim": args.dim,
            "bulk_s": round(bulk["seconds"], 2), "bulk_items_per_s": round(size / bulk["seconds"]),
            "build_s": round(first["seconds"], 2), "build_items_per_s": round(size / first["seconds"]),
            "build_vs_bulk": round(bulk["seconds"] / first["seconds"], 3), "build_vs_bulk_goal": ">= 0.8",
            "rebuild_s": round(second["seconds"], 2), "rebuild_speedup": round(first["seconds"] / second["seconds"], 1),
            "rebuild_goal": ">= 50",
            "hashes_docvalues_s": round(hashes["docvalues_s"], 2), "hashes_source_s": round(hashes["source_s"], 2),
            "peak_rss_mb": {"bulk": round(bulk["rss_mb"]), "build": round(first["rss_mb"]),
                            "rebuild": round(second["rss_mb"])},
        }  # fmt: skip
        results.append(row)
        print(
            f"{size:,} items x {args.dim}: build {row['build_items_per_s']:,} items/s vs raw bulk "
            f"{row['bulk_items_per_s']:,} items/s -> {row['build_vs_bulk']:.2f}x (goal >= 0.8); unchanged rebuild "
            f"{row['rebuild_s']:.2f}s vs {row['build_s']:.2f}s -> {row['rebuild_speedup']:.0f}x (goal >= 50); "
            f"peak RSS MB {row['peak_rss_mb']}; every doc_hash from doc values {row['hashes_docvalues_s']:.2f}s, "
            f"from _source {row['hashes_source_s']:.2f}s",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


PHASES = {"build": phase_build, "bulk": phase_bulk, "hashes": phase_hashes}

if __name__ == "__main__":
    main()
