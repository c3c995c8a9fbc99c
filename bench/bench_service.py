"""Latency of the ranking service over real HTTP (``recadmin serve`` in its own process, real uvicorn).

Two goals, each a ratio against a baseline measured in the same run, interleaved request by request:

    rerank   POST /v1/rerank, 100 candidates, a user with a 50-item history, the registered model personalizing
             (every response is checked to be personalized). Goal: p99 <= 10 ms.
             Baseline: GET /healthz of the same server over the same keep-alive client (the HTTP + framework floor).
    search   POST /v1/search end to end (k=10, k-NN candidates, rerank, explanations) with the query's vector
             given, against a plain OpenSearch k-NN query with the same vector (opensearch-py, size 10).
             Goal: ratio <= 1.3x. Also reported: plain k-NN of the same 100-candidate pool the service reranks
             (with _source, as the baseline fetches it; and the service's own pool query: doc values, no gzip,
             which is the service's overhead over its retrieval), the k=10 baseline without gzip, the service in
             hybrid mode, and when it embeds the query itself.

Set-up (not timed): an own index of Online Retail items embedded with the real MiniLM on the running node, a
SQLite store with the user's 50 purchases, and a ranker checkpoint registered and activated. The checkpoint is a
seeded, untrained network of the default shape: it costs exactly what a trained one does.

    .venv/bin/python bench/bench_service.py [--quick] [--url http://127.0.0.1:9200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from tests.paths import ROOT

sys.path.insert(0, str(ROOT))

from core.settings import OpenSearchSettings, Settings, StoreSettings

DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"
QUERIES = [
    "heart t-light holder", "red retrospot mug", "christmas decoration", "paper napkins", "vintage bag",
    "glass candle holder", "wooden star", "tea set", "lunch box", "cake stand", "pink alarm clock",
    "garden sign", "jam jar", "hot water bottle", "doormat", "photo frame", "party bunting", "pencils",
    "ceramic bowl", "lantern",
]  # fmt: skip
USER = "bench-user"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(values, 50), 3), "p99_ms": round(pct(values, 99), 3), "n": len(values)}


def build(settings: Settings, items: int) -> list[str]:
    """Index ``items`` Online Retail items with MiniLM, store 50 purchases of USER, register a model."""
    import torch

    from bench.synthetic_stats import synthetic_stats
    from core.store import open_store
    from indexer import api
    from ranker.feedback.events import EventIn
    from ranker.feedback.profiles import ProfileStore
    from ranker.model import registry
    from ranker.model.checkpoint import Checkpoint, save_checkpoint
    from ranker.model.features import FEATURE_NAMES
    from ranker.model.item_vectors import ItemVectors
    from ranker.model.network import AttentionRanker, RankerConfig

    frame = pd.read_parquet(DATA)
    codes = frame["StockCode"].value_counts().index[:items]
    catalog = settings.state_dir / "catalog.parquet"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    frame[frame["StockCode"].isin(set(codes))].to_parquet(catalog)
    t = time.perf_counter()
    api.build_from_catalog(settings, catalog)
    print(f"indexed {items} items with MiniLM in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    vectors = ItemVectors.from_index(settings)
    rng = random.Random(7)
    bought = rng.sample(vectors.ids, 50)
    engine = open_store(settings.store)
    start = datetime(2011, 6, 1)
    ProfileStore(engine, settings).ingest(
        [EventIn(user_id=USER, item_id=i, type="purchase", ts=start + timedelta(days=n)) for n, i in enumerate(bought)]
    )
    torch.manual_seed(0)
    model = AttentionRanker(
        RankerConfig(
            item_dim=vectors.dim, num_features=len(FEATURE_NAMES), feature_names=FEATURE_NAMES, feature_history=200
        )
    )
    stats = synthetic_stats(vectors.ids, vectors.prices)
    version = registry.next_version(engine)
    path = save_checkpoint(Checkpoint(model.eval(), version, stats), settings.state_dir / "models" / f"{version}.pt")
    registry.register(engine, version, path, {}, activate=True)
    return vectors.ids


def serve(settings: Settings, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        RECSEARCH_OPENSEARCH_URL=settings.opensearch.url,
        RECSEARCH_OPENSEARCH_INDEX_ALIAS=settings.opensearch.index_alias,
        RECSEARCH_STORE_URL=settings.store.url,
        RECSEARCH_STATE_DIR=str(settings.state_dir),
    )
    cmd = [str(ROOT / ".venv" / "bin" / "recadmin"), "serve", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_ready(http: httpx.Client, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited: {proc.stderr.read()[-2000:]}")
        try:
            parts = http.get("/readyz").json().get("parts", {})
            if all(parts.get(p) == "ready" for p in ("embedder", "item_vectors", "profile_store", "model")):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the service did not get ready")


def bench_rerank(http: httpx.Client, ids: list[str], n: int) -> dict:
    rng = random.Random(1)
    payloads = []
    for _ in range(20):
        hits = [{"id": i, "score": round(1.0 - r / 100, 4)} for r, i in enumerate(rng.sample(ids, 100))]
        payloads.append(json.dumps({"user_id": USER, "hits": hits}).encode())
    headers = {"content-type": "application/json"}
    rerank, floor = [], []
    for k in range(n + 50):
        t = time.perf_counter()
        r = http.post("/v1/rerank", content=payloads[k % len(payloads)], headers=headers)
        dt = time.perf_counter() - t
        body = r.json()
        assert r.status_code == 200 and body["personalized"] and len(body["results"]) == 100, body
        t = time.perf_counter()
        assert http.get("/healthz").status_code == 200
        df = time.perf_counter() - t
        if k >= 50:  # warm-up
            rerank.append(dt)
            floor.append(df)
    out = {"rerank_100": summary(rerank), "baseline_healthz": summary(floor)}
    out["p99_ratio"] = round(out["rerank_100"]["p99_ms"] / out["baseline_healthz"]["p99_ms"], 2)
    out["goal_p99_ms"] = 10.0
    return out


def bench_search(http: httpx.Client, settings: Settings, n: int) -> dict:
    from core.embedding import load_embedder
    from core.opensearch.client import make_client
    from indexer.search import docvalue_body, knn_query
    from ranker.service.backends import uncompressed

    vectors = load_embedder(settings.models.embedding).encode(QUERIES)
    client = make_client(settings.opensearch)
    bare = uncompressed(make_client(settings.opensearch))
    alias = settings.opensearch.index_alias
    arms: dict[str, list[float]] = {
        "plain_knn_k10": [], "plain_knn_k100": [], "plain_knn_k10_no_gzip": [], "service_pool_query": [],
        "service_knn": [], "service_hybrid": [], "service_embeds": [],
    }  # fmt: skip
    stages: dict[str, list[float]] = {}
    for k in range(n + 20):
        q = k % len(QUERIES)
        vec = [float(x) for x in vectors[q]]
        timed = {}
        plain = (
            ("plain_knn_k10", client, knn_query(vec, 10)),
            ("plain_knn_k100", client, knn_query(vec, 100)),
            ("plain_knn_k10_no_gzip", bare, knn_query(vec, 10)),
            ("service_pool_query", bare, docvalue_body(knn_query(vec, 100))),
        )
        for arm, os_client, query in plain:
            t = time.perf_counter()
            os_client.search(index=alias, body=query)
            timed[arm] = time.perf_counter() - t
        calls = [
            ("service_knn", {"query": QUERIES[q], "vector": vec, "k": 10, "user_id": USER, "mode": "knn"}),
            ("service_hybrid", {"query": QUERIES[q], "vector": vec, "k": 10, "user_id": USER, "mode": "hybrid"}),
        ]
        if k % 5 == 0:  # a query text never seen before: the service embeds it (no cache hit); slow, so 1 in 5
            calls.append(("service_embeds", {"query": f"{QUERIES[q]} {k}", "k": 10, "user_id": USER, "mode": "knn"}))
        for arm, body in calls:
            t = time.perf_counter()
            r = http.post("/v1/search", json=body)
            timed[arm] = time.perf_counter() - t
            assert r.status_code == 200 and r.json()["personalized"], r.text
            if arm == "service_knn" and k >= 20:
                for part in r.headers.get("server-timing", "").split(", "):
                    name, _, dur = part.partition(";dur=")
                    stages.setdefault(name, []).append(float(dur))
        if k >= 20:
            for arm, v in timed.items():
                arms[arm].append(v)
    out = {arm: summary(v) for arm, v in arms.items()}
    out["service_knn_stages_p50_ms"] = {name: round(float(np.median(v)), 3) for name, v in stages.items()}
    out["service_knn_vs_same_pool"] = {
        "p50_ratio": round(out["service_knn"]["p50_ms"] / out["plain_knn_k100"]["p50_ms"], 2),
        "p99_ratio": round(out["service_knn"]["p99_ms"] / out["plain_knn_k100"]["p99_ms"], 2),
    }
    out["service_knn_vs_its_pool_query"] = {
        "p50_ratio": round(out["service_knn"]["p50_ms"] / out["service_pool_query"]["p50_ms"], 2),
        "p99_ratio": round(out["service_knn"]["p99_ms"] / out["service_pool_query"]["p99_ms"], 2),
    }
    out["service_knn_vs_k10_no_gzip"] = {
        "p50_ratio": round(out["service_knn"]["p50_ms"] / out["plain_knn_k10_no_gzip"]["p50_ms"], 2),
        "p99_ratio": round(out["service_knn"]["p99_ms"] / out["plain_knn_k10_no_gzip"]["p99_ms"], 2),
    }
    base = out["plain_knn_k10"]
    for arm in ("service_knn", "service_hybrid", "service_embeds"):
        out[arm]["p50_ratio"] = round(out[arm]["p50_ms"] / base["p50_ms"], 2)
        out[arm]["p99_ratio"] = round(out[arm]["p99_ms"] / base["p99_ms"], 2)
    out["goal_ratio"] = 1.3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="800 items, 300 requests per arm (about 2 minutes)")
    parser.add_argument("--url", default="http://127.0.0.1:9200", help="OpenSearch node")
    parser.add_argument("--port", type=int, default=0, help="service port (default: a free one)")
    args = parser.parse_args()
    items, n = (800, 300) if args.quick else (3000, 1000)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    settings = Settings(
        opensearch=OpenSearchSettings(url=args.url, index_alias=f"bench-service-{uuid.uuid4().hex[:8]}"),
        store=StoreSettings(url=f"sqlite:///{tmp / 'store.db'}"),
        state_dir=tmp,
    )
    port = args.port or _free_port()
    proc = None
    try:
        ids = build(settings, items)
        proc = serve(settings, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            wait_ready(http, proc)
            result = {
                "items": len(ids),
                "requests_per_arm": n,
                "rerank": bench_rerank(http, ids, n * 2),
                "search": bench_search(http, settings, n),
            }
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        from core.opensearch.client import make_client

        make_client(settings.opensearch).indices.delete(
            index=f"{settings.opensearch.index_alias}-v*", ignore_unavailable=True, allow_no_indices=True
        )
    print(json.dumps(result, indent=2))
    r, s = result["rerank"], result["search"]
    print(
        f"\n/v1/rerank 100 candidates: p99 {r['rerank_100']['p99_ms']:.2f} ms (goal <= 10 ms), "
        f"baseline /healthz p99 {r['baseline_healthz']['p99_ms']:.2f} ms, ratio {r['p99_ratio']}x\n"
        f"/v1/search (knn, vector given) vs plain k-NN: p50 {s['service_knn']['p50_ratio']}x, "
        f"p99 {s['service_knn']['p99_ratio']}x (goal <= 1.3x); hybrid p50 {s['service_hybrid']['p50_ratio']}x; "
        f"embedding the query p50 {s['service_embeds']['p50_ratio']}x; vs plain k-NN of the same 100-candidate pool "
        f"p50 {s['service_knn_vs_same_pool']['p50_ratio']}x; vs the service's own pool query "
        f"p50 {s['service_knn_vs_its_pool_query']['p50_ratio']}x; vs k=10 without gzip "
        f"p50 {s['service_knn_vs_k10_no_gzip']['p50_ratio']}x, p99 {s['service_knn_vs_k10_no_gzip']['p99_ratio']}x; "
        f"Server-Timing p50 {s['service_knn_stages_p50_ms']}",
        file=sys.stderr,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
