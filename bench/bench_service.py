"""Latency of the ranking service over real HTTP (``recadmin serve`` in its own process, real uvicorn).

Three goals, each a ratio against a baseline measured in the same run, interleaved request by request
(``--goals`` picks some; all by default):

    rerank   POST /v1/rerank, 100 candidates, a user with a 50-item history, the registered model personalizing
             (every response is checked to be personalized). Goal: p99 <= 10 ms.
             Baseline: GET /healthz of the same server over the same keep-alive client (the HTTP + framework floor).
    search   POST /v1/search end to end (k=10, k-NN candidates, rerank, explanations) with the query's vector
             given, against a plain OpenSearch k-NN query with the same vector (opensearch-py, size 10).
             Goal: ratio <= 1.3x. Also reported: plain k-NN of the same 100-candidate pool the service reranks
             (with _source, as the baseline fetches it; and the service's own pool query: doc values, no gzip,
             which is the service's overhead over its retrieval), the k=10 baseline without gzip, the service in
             hybrid mode, and when it embeds the query itself.
    recommend GET /v1/recommend/{user}?k=10&include_purchased=false (a user with 50 purchases; every response checked to
             be personalized and served by its arm's model version) with this round's sequence model, against today's
             path in a second ``recadmin serve``. New: the checkpoint carries a sequence model, its learned item vectors
             are published into the index (the candidate pool adds an OpenSearch k-NN in the learned space) and
             RECSEARCH_SEQUENCE_ORDER_WEIGHT at its default (the scorer fuses the two orders). Baseline (today): a
             checkpoint without one over an index without learned vectors. Goal: p99 ratio <= 1.5. Two users with 50
             purchases take turns; each service keeps both users' history states (``ranker.model.user_state``), so
             from their second request on neither runs the sequence model again. With RECSEARCH_RANKER_USER_STATES=0
             in the environment every request builds the state (a stream of different users). Also reported: the
             same user every time, and how many OpenSearch searches each arm made per request (read from the index
             statistics: the new arm's learned k-NN is one more).

Set-up (not timed): an own index of Online Retail items embedded with the real MiniLM on the running node, a
SQLite store with the users' 50 purchases, and a ranker checkpoint registered and activated. The checkpoint is a
seeded, untrained network of the default shape: it costs exactly what a trained one does. For ``recommend`` the
new arm has its own copy of the index (the same documents and vectors, no MiniLM pass again), its own store and
state folder, and a checkpoint of the same shape with the ranker's ``sequence`` feature and a seeded sequence
model of the default shape (RECSEARCH_SEQUENCE_*), published with ``ranker.model.publish_learned_vectors``.

    .venv/bin/python bench/bench_service.py [--quick] [--goals rerank,search,recommend] [--url http://127.0.0.1:9200]
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

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)

sys.path.insert(0, str(ROOT))

from core.settings import OpenSearchSettings, SequenceSettings, Settings, StoreSettings  # noqa: E402  (after the path above)

DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"
QUERIES = [
    "heart t-light holder", "red retrospot mug", "christmas decoration", "paper napkins", "vintage bag",
    "glass candle holder", "wooden star", "tea set", "lunch box", "cake stand", "pink alarm clock",
    "garden sign", "jam jar", "hot water bottle", "doormat", "photo frame", "party bunting", "pencils",
    "ceramic bowl", "lantern",
]  # fmt: skip
USER = "bench-user"
USERS = (USER, "bench-user-2")  # each with 50 purchases; /v1/recommend alternates them
GOALS = ("rerank", "search", "recommend")
ORDER_WEIGHT = SequenceSettings().order_weight  # RECSEARCH_SEQUENCE_ORDER_WEIGHT of the new arm: the default


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(values, 50), 3), "p99_ms": round(pct(values, 99), 3), "n": len(values)}


class MemoEmbedder:
    """An embedder that encodes each text once: a second index of the same catalog costs no second MiniLM pass."""

    def __init__(self, inner):
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self._seen: dict[str, np.ndarray] = {}

    def encode(self, texts, batch_size: int | None = None) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if new:
            self._seen.update(zip(new, self.inner.encode(new, batch_size), strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._seen[t] for t in texts])


def purchases(ids: list[str]) -> dict[str, list[str]]:
    """50 purchased items of each of USERS (the same whatever order an index lists its items in)."""
    rng = random.Random(7)
    pool = sorted(ids)
    return {user: rng.sample(pool, 50) for user in USERS}


def build(settings: Settings, items: int, *, embedder=None, sequence: bool = False) -> list[str]:
    """Index ``items`` Online Retail items with MiniLM, store 50 purchases of each of USERS, register a model;
    ``sequence``: the model carries a seeded sequence model whose learned item vectors are published into the index."""
    import torch

    from bench.synthetic_stats import synthetic_stats
    from core.store import open_store
    from indexer import api
    from ranker.feedback.events import EventIn
    from ranker.feedback.profiles import ProfileStore
    from ranker.model import publish_learned_vectors, registry, serves_learned_vectors
    from ranker.model.checkpoint import Checkpoint, SequencePart, load_checkpoint, save_checkpoint
    from ranker.model.features import FEATURE_NAMES
    from ranker.model.item_vectors import ItemVectors
    from ranker.model.network import AttentionRanker, RankerConfig
    from ranker.model.sequence import SequenceConfig, SequenceModel

    frame = pd.read_parquet(DATA)
    codes = frame["StockCode"].value_counts().index[:items]
    catalog = settings.state_dir / "catalog.parquet"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    frame[frame["StockCode"].isin(set(codes))].to_parquet(catalog)
    t = time.perf_counter()
    api.build_from_catalog(settings, catalog, embedder=embedder)
    print(f"indexed {items} items into {settings.opensearch.index_alias} in {time.perf_counter() - t:.0f} s",
          file=sys.stderr)  # fmt: skip
    vectors = ItemVectors.from_index(settings)
    engine = open_store(settings.store)
    start = datetime(2011, 6, 1)
    ProfileStore(engine, settings).ingest(
        [EventIn(user_id=user, item_id=i, type="purchase", ts=start + timedelta(days=n))
         for user, bought in purchases(vectors.ids).items() for n, i in enumerate(bought)]
    )  # fmt: skip
    torch.manual_seed(0)
    names = (*FEATURE_NAMES, "sequence") if sequence else FEATURE_NAMES
    model = AttentionRanker(
        RankerConfig(item_dim=vectors.dim, num_features=len(names), feature_names=names, feature_history=200)
    )
    part = None
    if sequence:
        d = settings.sequence
        config = SequenceConfig(items=len(vectors.ids), text_dim=vectors.dim, dim=d.dim, layers=d.layers,
                                heads=d.heads, max_length=d.max_length, dropout=d.dropout)  # fmt: skip
        part = SequencePart(SequenceModel(config).eval(), list(vectors.ids))
    stats = synthetic_stats(vectors.ids, vectors.prices)
    version = registry.next_version(engine)
    checkpoint = Checkpoint(model.eval(), version, stats, sequence=part)
    path = save_checkpoint(checkpoint, settings.state_dir / "models" / f"{version}.pt")
    registry.register(engine, version, path, {}, activate=True)
    if sequence:
        publish_learned_vectors(settings, checkpoint, items=vectors)
    # What the service will load: a sequence model exactly when asked for, its vectors in the index.
    assert (load_checkpoint(path).sequence is not None) == sequence
    assert serves_learned_vectors(settings, version) == sequence
    return list(vectors.ids)  # a list of str (ItemIds is a compact read-only sequence: not JSON, not a list)


def serve(
    settings: Settings, port: int, extra_env: dict[str, str] | None = None, *, stderr=subprocess.PIPE, cwd=None
) -> subprocess.Popen:
    """``recadmin serve`` of this checkout (the one beside the running Python, this checkout's code first on the
    path: a git worktree shares the main checkout's virtualenv) over ``settings``; its stderr to ``stderr`` (a pipe
    by default, or an open file)."""
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        RECSEARCH_OPENSEARCH_URL=settings.opensearch.url,
        RECSEARCH_OPENSEARCH_INDEX_ALIAS=settings.opensearch.index_alias,
        RECSEARCH_STORE_URL=settings.store.url,
        RECSEARCH_STATE_DIR=str(settings.state_dir),
        **(extra_env or {}),
    )
    cmd = [str(Path(sys.executable).with_name("recadmin")), "serve", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True, cwd=cwd)


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
    from ranker.service.index_client import uncompressed

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


def bench_recommend(arms: dict[str, tuple[httpx.Client, str, Settings]], n: int) -> dict:
    """GET /v1/recommend on each arm (name -> (client, model version it must answer with, settings)), interleaved
    request by request in a drawn order each round: two users taking turns (the goal), then the same user."""
    from core.opensearch.client import make_client
    from indexer.api import items_index

    def searches(settings: Settings) -> int:
        live = items_index(settings).require_live()
        stats = make_client(settings.opensearch).indices.stats(index=live, metric="search")
        return int(stats["_all"]["primaries"]["search"]["query_total"])

    rng = random.Random(3)
    out: dict = {}
    for phase, users in (("two_users", USERS), ("same_user", USERS[:1])):
        times: dict[str, list[float]] = {arm: [] for arm in arms}
        before = {arm: searches(settings) for arm, (_, _, settings) in arms.items()}
        for k in range(n + 20):
            path = f"/v1/recommend/{users[k % len(users)]}?k=10&include_purchased=false"
            order = list(arms)
            rng.shuffle(order)
            for arm in order:
                http, version, _ = arms[arm]
                t = time.perf_counter()
                r = http.get(path)
                dt = time.perf_counter() - t
                body = r.json()
                assert r.status_code == 200 and body["personalized"] and body["model_version"] == version, body
                assert len(body["results"]) == 10, body
                if k >= 20:  # warm-up
                    times[arm].append(dt)
        per_request = {arm: round((searches(settings) - before[arm]) / (n + 20), 2)
                       for arm, (_, _, settings) in arms.items()}  # fmt: skip
        # The learned k-NN is one more OpenSearch search per request: the new arm's pool really queried it.
        assert per_request["sequence"] >= per_request["today"] + 0.99, per_request
        today, new = summary(times["today"]), summary(times["sequence"])
        out[phase] = {
            "today": today, "sequence": new, "p50_ratio": round(new["p50_ms"] / today["p50_ms"], 2),
            "p99_ratio": round(new["p99_ms"] / today["p99_ms"], 2), "opensearch_searches_per_request": per_request,
        }  # fmt: skip
    out["order_weight"] = ORDER_WEIGHT
    out["goal_p99_ratio"] = 1.5
    out["met"] = out["two_users"]["p99_ratio"] <= out["goal_p99_ratio"]
    return out


def active(settings: Settings) -> str:
    """The model version a service over ``settings`` serves."""
    from core.store import open_store
    from ranker.model import active_version

    return active_version(open_store(settings.store)).version


def arm_settings(url: str, name: str, folder: Path) -> Settings:
    """Settings of one service: its own index alias, SQLite store and state folder."""
    return Settings(
        opensearch=OpenSearchSettings(url=url, index_alias=f"{name}-{uuid.uuid4().hex[:8]}"),
        store=StoreSettings(url=f"sqlite:///{folder / 'store.db'}"),
        state_dir=folder,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="800 items, 300 requests per arm (about 3 minutes)")
    parser.add_argument("--url", default="http://127.0.0.1:9200", help="OpenSearch node")
    parser.add_argument("--port", type=int, default=0, help="service port (default: a free one)")
    parser.add_argument("--goals", default=",".join(GOALS), help=f"comma-separated, of {', '.join(GOALS)}")
    args = parser.parse_args()
    goals = [g.strip() for g in args.goals.split(",") if g.strip()]
    unknown = sorted(set(goals) - set(GOALS))
    if unknown or not goals:
        parser.error(f"--goals: unknown {', '.join(unknown) or '(none given)'}; choose among {', '.join(GOALS)}")
    items, n = (800, 300) if args.quick else (3000, 1000)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    # The service of the rerank and search goals, and today's arm of recommend.
    settings = arm_settings(args.url, "bench-service", tmp)
    recommend = "recommend" in goals
    new = arm_settings(args.url, "bench-service-seq", tmp / "sequence") if recommend else None
    procs: list[subprocess.Popen] = []
    try:
        from core.embedding import embedder_for

        embedder = MemoEmbedder(embedder_for(settings))
        ids = build(settings, items, embedder=embedder)
        ports = [args.port or _free_port()]
        procs.append(serve(settings, ports[0]))
        if new is not None:
            build(new, items, embedder=embedder, sequence=True)
            ports.append(_free_port())
            procs.append(serve(new, ports[1], {"RECSEARCH_SEQUENCE_ORDER_WEIGHT": str(ORDER_WEIGHT)}))
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) for port in ports]
        try:
            for http, proc in zip(clients, procs, strict=True):
                wait_ready(http, proc)
            http = clients[0]
            result = {"items": len(ids), "requests_per_arm": n, "goals": goals}
            if "rerank" in goals:
                result["rerank"] = bench_rerank(http, ids, n * 2)
            if "search" in goals:
                result["search"] = bench_search(http, settings, n)
            if new is not None:
                arms = {"today": (http, active(settings), settings), "sequence": (clients[1], active(new), new)}
                result["recommend"] = bench_recommend(arms, n)
        finally:
            for http in clients:
                http.close()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        from core.opensearch.client import make_client

        for s in (settings, new):
            if s is not None:
                make_client(s.opensearch).indices.delete(
                    index=f"{s.opensearch.index_alias}-v*", ignore_unavailable=True, allow_no_indices=True
                )
    print(json.dumps(result, indent=2))
    lines = []
    if "rerank" in result:
        r = result["rerank"]
        lines.append(
            f"/v1/rerank 100 candidates: p99 {r['rerank_100']['p99_ms']:.2f} ms (goal <= 10 ms), "
            f"baseline /healthz p99 {r['baseline_healthz']['p99_ms']:.2f} ms, ratio {r['p99_ratio']}x"
        )
    if "search" in result:
        s = result["search"]
        lines.append(
            f"/v1/search (knn, vector given) vs plain k-NN: p50 {s['service_knn']['p50_ratio']}x, "
            f"p99 {s['service_knn']['p99_ratio']}x (goal <= 1.3x); hybrid p50 {s['service_hybrid']['p50_ratio']}x; "
            f"embedding the query p50 {s['service_embeds']['p50_ratio']}x; vs plain k-NN of the same 100-candidate "
            f"pool p50 {s['service_knn_vs_same_pool']['p50_ratio']}x; vs the service's own pool query "
            f"p50 {s['service_knn_vs_its_pool_query']['p50_ratio']}x; vs k=10 without gzip "
            f"p50 {s['service_knn_vs_k10_no_gzip']['p50_ratio']}x, "
            f"p99 {s['service_knn_vs_k10_no_gzip']['p99_ratio']}x; Server-Timing p50 {s['service_knn_stages_p50_ms']}"
        )
    if "recommend" in result:
        c = result["recommend"]
        two, same = c["two_users"], c["same_user"]
        lines.append(
            f"/v1/recommend with the sequence model (learned k-NN, order weight {c['order_weight']:g}) vs today's: "
            f"p50 {two['sequence']['p50_ms']:.2f} vs {two['today']['p50_ms']:.2f} ms ({two['p50_ratio']}x), "
            f"p99 {two['sequence']['p99_ms']:.2f} vs {two['today']['p99_ms']:.2f} ms ({two['p99_ratio']}x; goal <= "
            f"{c['goal_p99_ratio']}x: {'met' if c['met'] else 'NOT met'}); the same user every time (its user vector "
            f"cached): p50 {same['p50_ratio']}x, p99 {same['p99_ratio']}x; OpenSearch searches per request "
            f"{two['opensearch_searches_per_request']}"
        )
    print("\n" + "\n".join(lines), file=sys.stderr)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
