"""How much latency the personalized-rerank search pipeline adds to the same query at 100 hits.

Three arms, interleaved request by request in one run on one node so they see the same load:

    plain        the query without a pipeline (the baseline)
    no_user      ?search_pipeline=... without ext.personalize: the pipeline machinery alone, no ranker call
    personalized ?search_pipeline=... with a user: the ranker call (100 hits) and the blend
    ranker_alone the same 100 hits POSTed straight to the ranker (not a search; to split the added time)

The goal is reported as a ratio against the baseline measured in the same run (median and p95 latency).
By default the ranker is a small in-process server that follows the /v1/rerank contract and answers at once, so the
figure is the plugin's own cost (HTTP hop, JSON, blend, reorder); ``--ranker-url`` points it at a real service.

    .venv/bin/python bench/bench_pipeline.py [--url http://127.0.0.1:9200] [--quick] [--ranker-url URL]

Needs a node with the recsearch-rerank plugin (scripts/build-plugin; scripts/test and scripts/demo install it).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import PipelineSettings
from indexer.search_pipeline import PLUGIN_NAME, pipeline_body

WORDS = [
    "red",
    "blue",
    "green",
    "heart",
    "star",
    "mug",
    "cup",
    "plate",
    "bowl",
    "vase",
    "candle",
    "holder",
    "lantern",
    "bag",
    "box",
    "tin",
    "card",
]


class ContractRanker(BaseHTTPRequestHandler):
    """POST /v1/rerank per docs/architecture.md: every hit back, scored by a per-user hash, sorted by score."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stalls

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        user = body["user_id"]
        results = [
            {
                "id": h["id"],
                "score": (hash((user, h["id"])) % 1000) / 1000,
                "retrieval_score": h["score"],
                "explanations": [],
            }
            for h in body["hits"]
        ]
        results.sort(key=lambda r: r["score"], reverse=True)
        out = json.dumps(
            {"user_id": user, "personalized": True, "reason": None, "model_version": "bench", "results": results}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def start_contract_ranker() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ContractRanker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


SERVICE_USER = "bench-user"


def start_real_ranker(node_url: str):
    """bench_service's set-up on ``node_url``, and the service in its own process: (settings, process, url, alias)."""
    import os
    import tempfile

    from bench.bench_service import USER, build, serve, wait_ready
    from core.settings import OpenSearchSettings, Settings, StoreSettings

    assert USER == SERVICE_USER
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    settings = Settings(
        opensearch=OpenSearchSettings(url=node_url, index_alias=f"bench-pipeline-{uuid.uuid4().hex[:8]}"),
        store=StoreSettings(url=f"sqlite:///{tmp / 'store.db'}"),
        state_dir=tmp,
    )
    build(settings, 800)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = serve(settings, port)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as probe:
            wait_ready(probe, proc, timeout=600)  # loading MiniLM and the model is slow on a busy 2-core machine
    except BaseException:
        stop_real_ranker(settings, proc)
        raise
    return settings, proc, url, settings.opensearch.index_alias


def stop_real_ranker(settings, proc) -> None:
    from core.opensearch.client import make_client

    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    make_client(settings.opensearch).indices.delete(
        index=f"{settings.opensearch.index_alias}-v*", ignore_unavailable=True, allow_no_indices=True
    )


def build_index(http: httpx.Client, index: str, docs: int, dim: int = 16) -> None:
    mapping = {
        "settings": {"index.knn": True, "number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {
            "properties": {
                "item_id": {"type": "keyword"},
                "title": {"type": "text"},
                "vector": {
                    "type": "knn_vector",
                    "dimension": dim,
                    "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
                },
            }
        },
    }
    http.put(f"/{index}", json=mapping).raise_for_status()
    rng = random.Random(7)
    lines = []
    for i in range(docs):
        title = " ".join(rng.choice(WORDS) for _ in range(5))
        vector = [rng.gauss(0, 1) for _ in range(dim)]
        lines.append(json.dumps({"index": {"_id": str(i)}}))
        lines.append(json.dumps({"item_id": f"I{i:05d}", "title": title, "vector": vector}))
    r = http.post(f"/{index}/_bulk?refresh=true", content="\n".join(lines) + "\n",
                  headers={"Content-Type": "application/x-ndjson"})  # fmt: skip
    r.raise_for_status()
    assert not r.json()["errors"], "bulk indexing failed"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:9200", help="OpenSearch URL (the node needs the plugin)")
    ap.add_argument("--ranker-url", default=None, help="a running ranking service instead of the contract ranker")
    ap.add_argument("--real-ranker", action="store_true",
                    help="start the real ranking service (bench_service's set-up: 800 Online Retail items, MiniLM, "
                         "a user with 50 purchases, a registered model) and query that index")  # fmt: skip
    ap.add_argument("--user", default="bench-user", help="user id sent in ext.personalize")
    ap.add_argument("--hits", type=int, default=100, help="hits per query (all sent to the ranker)")
    ap.add_argument("--requests", type=int, default=300, help="measured requests per arm")
    ap.add_argument("--quick", action="store_true", help="100 requests per arm")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    n = 100 if args.quick else args.requests

    http = httpx.Client(base_url=args.url, timeout=30)
    plugins = {p["component"] for p in http.get("/_cat/plugins?format=json").json()}
    if PLUGIN_NAME not in plugins:
        print(f"error: {args.url} has no {PLUGIN_NAME} plugin; build it with scripts/build-plugin", file=sys.stderr)
        return 1
    server = service = service_settings = None
    index = f"bench-pipeline-{uuid.uuid4().hex[:8]}"
    pipeline = f"bench-personalized-{uuid.uuid4().hex[:8]}"
    text = "heart mug candle"
    try:
        if args.real_ranker:
            service_settings, service, ranker_url, index = start_real_ranker(args.url)
            args.user, text = SERVICE_USER, "christmas heart set bag red vintage glass paper cake"
        elif args.ranker_url:
            ranker_url = args.ranker_url
        else:
            server, ranker_url = start_contract_ranker()
        if not args.real_ranker:
            build_index(http, index, docs=max(2000, args.hits * 5))
        p = PipelineSettings(
            name=pipeline, ranker_url=ranker_url, max_hits=args.hits, timeout_ms=2000, ignore_failure=False
        )
        http.put(f"/_search/pipeline/{pipeline}", json=pipeline_body(p)).raise_for_status()
        # Only the fields a results page shows: item vectors in _source would dominate the response time.
        query = {"size": args.hits, "_source": ["item_id", "title"], "query": {"match": {"title": text}}}
        arms = {
            "plain": (f"/{index}/_search", query),
            "no_user": (f"/{index}/_search?search_pipeline={pipeline}", query),
            "personalized": (
                f"/{index}/_search?search_pipeline={pipeline}",
                {**query, "ext": {"personalize": {"user_id": args.user}}},
            ),
        }
        check = http.post(arms["personalized"][0], json=arms["personalized"][1]).json()
        outcome = check["ext"]["personalized_rerank"]
        assert outcome["personalized"] and outcome["reranked"] == args.hits, outcome
        # The ranker alone, with the body the plugin sends for these hits: what a remote ranker costs by itself.
        sent = [
            {"id": h["_source"]["item_id"], "score": h["_score"]}
            for h in http.post(arms["plain"][0], json=query).json()["hits"]["hits"]
        ]
        ranker_http = httpx.Client(timeout=30)
        rerank_url = ranker_url.rstrip("/") + "/v1/rerank"
        times: dict[str, list[float]] = {a: [] for a in arms}
        times["ranker_alone"] = []
        processor_ms: list[float] = []
        for i in range(n + 20):  # the first 20 rounds warm the JIT, caches and connections
            for arm in random.Random(i).sample(list(arms), len(arms)):  # a new order each round: no arm always first
                path, body = arms[arm]
                t0 = time.perf_counter()
                r = http.post(path, json=body)
                elapsed = (time.perf_counter() - t0) * 1000
                r.raise_for_status()
                if i >= 20:
                    times[arm].append(elapsed)
                    if arm == "personalized":  # the processor's own clock: ranker round trip + blend
                        processor_ms.append(r.json()["ext"]["personalized_rerank"]["took_ms"])
            t0 = time.perf_counter()
            ranker_http.post(rerank_url, json={"user_id": args.user, "hits": sent}).raise_for_status()
            if i >= 20:
                times["ranker_alone"].append((time.perf_counter() - t0) * 1000)
    finally:
        http.delete(f"/_search/pipeline/{pipeline}")
        if service_settings is None:
            http.delete(f"/{index}")
        if server:
            server.shutdown()
        if service is not None:
            stop_real_ranker(service_settings, service)
    base_med, base_p95 = statistics.median(times["plain"]), pct(times["plain"], 0.95)
    ranker_name = (
        "real ranking service (recadmin serve)"
        if args.real_ranker
        else args.ranker_url or "contract ranker (in-process)"
    )
    figures = {"hits": args.hits, "requests_per_arm": n, "ranker": ranker_name, "arms": {}}
    print(
        f"search pipeline latency, {args.hits} hits, {n} requests per arm, node {args.url}, ranker {figures['ranker']}"
    )
    print(f"{'arm':<14}{'median ms':>10}{'p95 ms':>10}{'x median':>10}{'x p95':>8}{'+ms median':>12}")
    for arm, values in times.items():
        med, p95 = statistics.median(values), pct(values, 0.95)
        row = {"median_ms": med, "p95_ms": p95, "ratio_median": med / base_med, "ratio_p95": p95 / base_p95,
               "added_median_ms": med - base_med}  # fmt: skip
        figures["arms"][arm] = row
        print(
            f"{arm:<14}{med:>10.2f}{p95:>10.2f}{row['ratio_median']:>10.2f}{row['ratio_p95']:>8.2f}{row['added_median_ms']:>12.2f}"
        )
    own = figures["arms"]["personalized"]["added_median_ms"] - figures["arms"]["ranker_alone"]["median_ms"]
    figures["plugin_own_ms_median"] = own
    figures["processor_took_ms_median"] = statistics.median(processor_ms)
    print(f"the plugin's own cost (added median minus the ranker alone): {own:.2f} ms")
    print(
        f"the processor's own clock (ext.personalized_rerank.took_ms, ranker call included), median: "
        f"{figures['processor_took_ms_median']:.1f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
