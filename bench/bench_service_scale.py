"""The ranking service at a million items: memory of its item tables and /v1/search, /v1/recommend latency.

Two parts (``--part``; both by default):

    memory   in-process, no node: for each size N (seeded unit vectors, ids and titles of a synthetic shop's
             shape), in a process of its own, the RSS the service's item table (``ItemVectors``, float32 and
             float16) and the scorer over it (a seeded checkpoint of the default shape with a sequence model of N
             items and item statistics of Online Retail's shape: what a trained one holds) add, and the time of
             the per-request calls that once were O(catalog) (the pool's co-purchases and what sells now) and of
             ``Scorer.score`` (100 candidates x 50 history items). Goal: RSS of the whole process <= 2 GB at 1M.
    service  with the node: for each size, a synthetic shop (bench/synth_shop.py: N items with DIM-dimensional
             vectors of their own, events for N/10 users) built into an index of its own (``index build
             --vector-field vector``), its events imported (``feedback import``), a seeded checkpoint of the
             default shape registered and activated (untrained: it costs what a trained one does; its sequence
             model's learned vectors published into the index, so the pool's learned-space k-NN runs), then
             ``recadmin serve`` in its own process; timed, interleaved: GET /v1/recommend/{user}?k=10 and
             POST /v1/search {query, user_id, k=10} (BM25 candidates: the catalog's own vectors have no query
             model) for users with a history; the service's RSS (VmRSS, VmHWM) after. Goal: p99 at the largest
             size <= 1.5 x p99 at the smallest, for each route; RSS <= 2 GB.
             ``--index-build``: also the index build of the largest size against a raw opensearch-py bulk of the same
             documents and the unchanged rebuild (bench/bench_index_scale.py's phases, on the same catalog).

    PYTHONPATH=. .venv/bin/python bench/bench_service_scale.py [--quick] [--part memory|service] [--sizes ...]
        [--dim 64] [--json PATH] [--plot PNG] [--index-build] [--port 8024]
        [--merge EARLIER.json] [--baseline CHECKOUT]

Sizes: 10k, 100k, 1M (``--quick``: 10k and 100k). The service part needs a running node
(RECSEARCH_OPENSEARCH_URL) and deletes its indexes after; 1M x 64 takes the node a long while to HNSW-index on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

GOAL_RSS_MB = 2048
GOAL_P99_RATIO = 1.5


def _status_mb(field: str, pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _synthetic_items(n: int, dim: int, seed: int = 0):
    """Ids, titles, prices and unit vectors of ``n`` items (the shape of bench/synth_shop.py's catalog)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = [f"P{i:07d}" for i in range(n)]
    words = ["blue", "cotton", "storage", "garden", "ceramic", "vintage", "lamp", "mug", "set", "large"]
    titles = [f"{words[i % 10]} {words[(i // 10) % 10]} {words[(i // 100) % 10]} item {i}" for i in range(n)]
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ids, titles, rng.uniform(0.5, 50.0, n), vectors


def seeded_checkpoint(items, version: str = "bench", seed: int = 0):
    """A checkpoint of the default shape over ``items`` (ItemVectors): the ranker with the ``sequence`` feature, a
    sequence model with an id row per item, item statistics of Online Retail's shape (bench/synthetic_stats.py)."""
    import torch

    from bench.synthetic_stats import synthetic_stats
    from core.settings import SequenceSettings
    from ranker.model.checkpoint import Checkpoint, SequencePart
    from ranker.model.features import FEATURE_NAMES
    from ranker.model.network import AttentionRanker, RankerConfig
    from ranker.model.sequence import SequenceConfig, SequenceModel

    torch.manual_seed(seed)
    names = (*FEATURE_NAMES, "sequence")
    config = RankerConfig(item_dim=items.dim, num_features=len(names), feature_names=names, feature_history=200)
    d = SequenceSettings()
    seq = SequenceConfig(items=len(items), text_dim=items.dim, dim=d.dim, layers=d.layers, heads=d.heads,
                         max_length=d.max_length, dropout=d.dropout)  # fmt: skip
    part = SequencePart(SequenceModel(seq).eval(), list(items.ids))
    return Checkpoint(AttentionRanker(config).eval(), version, synthetic_stats(list(items.ids), items.prices),
                      sequence=part)  # fmt: skip


def phase_memory(n: int, dim: int, dtype: str) -> dict:
    """One size in this process: RSS after each part, and the per-request calls' time."""
    import gc

    import numpy as np
    import torch  # noqa: F401  (loaded before the first reading: the service has it loaded too)

    from core.heap import trim
    from ranker.feedback.profiles import Interaction
    from ranker.model.item_vectors import ItemVectors
    from ranker.model.scoring import Candidate, Scorer

    base = _status_mb("VmRSS")
    ids, titles, prices, vectors = _synthetic_items(n, dim)
    items = ItemVectors.from_arrays(ids, vectors, titles, prices, dtype=dtype)
    del ids, titles, vectors  # only what the table keeps stays measured (the histories below read its ids)
    gc.collect()
    trim()  # as the service does after each load (ranker/service/deps.py)
    table = _status_mb("VmRSS")
    checkpoint = seeded_checkpoint(items)
    scorer = Scorer(checkpoint, items, explanations=3, threads=1, sequence_weight=16.0)
    del checkpoint
    gc.collect()
    trim()
    loaded = _status_mb("VmRSS")
    rng = np.random.default_rng(1)
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    users = []
    for _ in range(32):
        history = [Interaction(items.ids[j], "purchase", now - timedelta(days=float(rng.uniform(0, 300))))
                   for j in rng.zipf(1.3, 50) % n]  # fmt: skip
        history.sort(key=lambda h: h.ts, reverse=True)
        candidates = [Candidate(items.ids[j], float(s)) for j, s in zip(rng.choice(n, 100, replace=False),
                                                                          rng.random(100), strict=True)]  # fmt: skip
        users.append((history, candidates))
    calls = {
        "score": lambda h, c: scorer.score(h, c, now=now),
        "companions": lambda h, c: scorer.companions(h, 100),
        "trending": lambda h, c: scorer.trending(100),
    }
    times: dict[str, list[float]] = {k: [] for k in calls}
    for r in range(10):
        for h, c in users:
            for name, fn in calls.items():
                t = time.perf_counter()
                fn(h, c)
                if r:  # the first round builds the users' states
                    times[name].append(time.perf_counter() - t)
    return {
        "items": n, "dim": dim, "dtype": dtype,
        "rss_base_mb": round(base), "item_table_mb": round(table - base), "scorer_mb": round(loaded - table),
        "rss_mb": round(_status_mb("VmRSS")), "peak_rss_mb": round(_status_mb("VmHWM")),
        "precomputed_projections": scorer.precomputed,
        **{f"{k}_p50_ms": round(float(np.percentile(v, 50)) * 1000, 3) for k, v in times.items()},
        **{f"{k}_p99_ms": round(float(np.percentile(v, 99)) * 1000, 3) for k, v in times.items()},
    }  # fmt: skip


def run_memory(sizes: list[int], dim: int, dtypes: list[str], baseline: Path | None = None) -> list[dict]:
    """Each size and dtype in a process of its own; with ``baseline`` (a checkout, e.g. main's), each also with that
    checkout's code (this file's phase, its ``ranker``), right before this code's, so both see the same load."""
    rows = []
    codes: list[tuple[str, Path | None]] = ([("baseline", baseline)] if baseline else []) + [("this", None)]
    for n in sizes:
        for dtype in dtypes:
            for label, code in codes:
                command = [sys.executable, __file__, "--phase", "memory", "--sizes", str(n), "--dim", str(dim),
                           "--dtypes", dtype] + (["--code", str(code)] if code else [])  # fmt: skip
                out = subprocess.run(command, check=True, capture_output=True, text=True)
                row = {**json.loads(out.stdout.strip().splitlines()[-1]), "code": label}
                rows.append(row)
                print(f"memory {n:>9,} items x {dim} {dtype} ({label} code): item table {row['item_table_mb']} MB, "
                      f"scorer {row['scorer_mb']} MB, process {row['rss_mb']} MB (peak {row['peak_rss_mb']}, goal <= "
                      f"{GOAL_RSS_MB}); score p99 {row['score_p99_ms']} ms, companions p99 {row['companions_p99_ms']} "
                      f"ms, trending p99 {row['trending_p99_ms']} ms", flush=True)  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k and 100k items")
    parser.add_argument("--part", choices=["memory", "service", "all"], default="all")
    parser.add_argument("--sizes", help="comma-separated item counts (default 10000,100000,1000000)")
    parser.add_argument("--dim", type=int, default=64, help="vector dimension (64: HNSW at 1M fits 2 cores)")
    parser.add_argument("--dtypes", default="float32,float16", help="memory part: the item table's dtypes")
    parser.add_argument("--requests", type=int, default=0, help="service part: timed requests per route and size")
    parser.add_argument("--index-build", action="store_true", help="service part: also the index build vs raw bulk")
    parser.add_argument("--port", type=int, default=8024, help="service part: the port `recadmin serve` listens on")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--merge", type=Path, help="an earlier run's JSON: its parts this run does not measure are "
                        "kept in --json and --plot (e.g. the service part run apart from the memory part)")  # fmt: skip
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--baseline", type=Path, help="memory part: also measure each size with this checkout's "
                        "code (e.g. main's, or `git archive` of a commit), in the same run")  # fmt: skip
    parser.add_argument("--phase", choices=["memory"], help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # the phase imports this checkout's code
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
    sizes = [int(s) for s in (args.sizes or ("10000,100000" if args.quick else "10000,100000,1000000")).split(",")]
    if args.phase == "memory":
        print(json.dumps(phase_memory(sizes[0], args.dim, args.dtypes)))
        return
    result: dict = {"load_average": [round(x, 2) for x in os.getloadavg()]}
    if args.part in ("memory", "all"):
        result["memory"] = run_memory(sizes, args.dim, args.dtypes.split(","), args.baseline)
    if args.part in ("service", "all"):
        from bench.service_scale import run_service

        service_sizes = [sizes[0], sizes[-1]]
        result["service"] = run_service(service_sizes, args.dim, args.requests or (300 if args.quick else 1000),
                                        index_build=args.index_build, port=args.port)  # fmt: skip
    if args.merge:
        result = merge_parts(result, json.loads(args.merge.read_text()), str(args.merge))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    if args.plot:
        plot(result, args.plot)


def merge_parts(result: dict, earlier: dict, source: str) -> dict:
    """``result`` with the parts (memory, service) that only ``earlier`` measured, and where they came from (the
    parts this run measured win)."""
    kept = [k for k in ("memory", "service") if k in earlier and k not in result]
    if not kept:
        return result
    return {**result, **{k: earlier[k] for k in kept},
            "merged_from": {"path": source, "parts": kept, "load_average": earlier.get("load_average")}}  # fmt: skip


def plot(result: dict, path: Path) -> None:
    """RSS against items (memory part, each dtype; the service's when measured) and the routes' p99 (service)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    service = result.get("service", {}).get("sizes", [])
    fig, axes = plt.subplots(1, 2 if service else 1, figsize=(11 if service else 6, 4), squeeze=False)
    ax = axes[0][0]
    memory = result.get("memory", [])
    for code, dtype in sorted({(r.get("code", "this"), r["dtype"]) for r in memory}, reverse=True):
        rows = [r for r in memory if r["dtype"] == dtype and r.get("code", "this") == code]
        label = f"scorer process, {dtype}" + (" (baseline code)" if code == "baseline" else "")
        ax.plot([r["items"] for r in rows], [r["rss_mb"] for r in rows], marker="o", label=label,
                linestyle="--" if code == "baseline" else "-")  # fmt: skip
    if service:
        ax.plot([r["items"] for r in service], [r["rss_mb"] for r in service], marker="s", label="recadmin serve")
    ax.axhline(GOAL_RSS_MB, color="grey", linestyle="--", label="goal 2 GB")
    ax.set(xscale="log", xlabel="items", ylabel="RSS MB", title="memory per worker")
    ax.legend(fontsize=8)
    if service:
        ax = axes[0][1]
        for route in ("recommend", "search"):
            ax.plot(
                [r["items"] for r in service], [r[route]["p99_ms"] for r in service], marker="o", label=f"{route} p99"
            )
            ax.plot([r["items"] for r in service], [r[route]["p50_ms"] for r in service], marker=".", linestyle=":",
                    label=f"{route} p50")  # fmt: skip
        ax.set(xscale="log", xlabel="items", ylabel="ms", title="latency over HTTP")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
