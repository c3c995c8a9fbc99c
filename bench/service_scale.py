"""The service part of bench/bench_service_scale.py: a synthetic shop per size on the node, ``recadmin serve`` over
it, /v1/recommend and /v1/search timed over HTTP, the service's RSS (see that file's docstring)."""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Events and users of every size's shop: the same, so that only the catalog's size differs between sizes.
EVENTS, USERS = 200_000, 5_000
PORT = 8024  # the service's port by default (--port: each helper its own)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 2)


def _settings(folder: Path, alias: str):
    from core.settings import OpenSearchSettings, Settings, StoreSettings, get_settings

    base = get_settings()
    return Settings(
        opensearch=OpenSearchSettings(**{**base.opensearch.model_dump(), "index_alias": alias}),
        store=StoreSettings(url=f"sqlite:///{folder / 'store.db'}"),
        state_dir=folder,
    )


class _CatalogItems:
    """The catalog's ids and prices, and its vectors' width: what a seeded checkpoint is made from (the model is
    registered before the build, which writes its learned vectors with the documents)."""

    def __init__(self, catalog: Path, dim: int):
        import pandas as pd

        frame = pd.read_parquet(catalog, columns=["id", "price"])
        self.ids = frame["id"].astype(str).tolist()
        self.prices = frame["price"].to_numpy(dtype=np.float64)
        self.dim = dim

    def __len__(self) -> int:
        return len(self.ids)


def _prepare(n: int, dim: int, folder: Path, alias: str, index_build: bool) -> dict:
    """Shop, a seeded model registered and activated, index (built in its own process as ``recadmin index build``
    runs: the model's learned vectors in the same bulk), events imported."""
    from bench.bench_index_scale import _run_phase
    from bench.bench_service_scale import seeded_checkpoint
    from bench.synth_shop import ShopParams, generate
    from ranker.feedback.api import import_file, store_engine
    from ranker.model import publish_learned_vectors, registry
    from ranker.model.checkpoint import save_checkpoint

    settings = _settings(folder, alias)
    t = time.perf_counter()
    generate(ShopParams(items=n, users=USERS, events=EVENTS, days=180, seed=1, vectors=dim), folder)
    info: dict = {"items": n, "dim": dim, "generate_s": round(time.perf_counter() - t, 1)}
    catalog = folder / "catalog.parquet"
    engine = store_engine(settings)
    version = registry.next_version(engine)
    checkpoint = seeded_checkpoint(_CatalogItems(catalog, dim), version)
    path = save_checkpoint(checkpoint, folder / "models" / f"{version}.pt")
    registry.register(engine, version, path, {}, activate=True)
    store = settings.store.url
    build = _run_phase("build", catalog, alias, store)
    assert build["learned_model"] == version, build
    info["build_s"] = round(build["seconds"], 1)
    info["build_items_per_s"] = round(n / build["seconds"])
    info["build_peak_rss_mb"] = round(build["rss_mb"])
    _say(f"{n:,} items: generated in {info['generate_s']} s, built with the learned vectors in {info['build_s']} s "
         f"({info['build_items_per_s']} items/s)")  # fmt: skip
    if index_build:  # the raw bulk of the same documents, then the unchanged rebuild, on this catalog
        bulk = _run_phase("bulk", catalog, alias, store)
        from core.opensearch.client import make_client

        make_client(settings.opensearch).indices.delete(index=f"{alias}-raw", ignore_unavailable=True)
        again = _run_phase("build", catalog, alias, store)
        assert again["up_to_date"], again
        info["index_build"] = {
            "bulk_s": round(bulk["seconds"], 1), "bulk_items_per_s": round(n / bulk["seconds"]),
            "build_vs_bulk": round(bulk["seconds"] / build["seconds"], 3), "build_vs_bulk_goal": ">= 0.8",
            "rebuild_s": round(again["seconds"], 2), "rebuild_speedup": round(build["seconds"] / again["seconds"], 1),
            "rebuild_goal": ">= 50", "peak_rss_mb": {"bulk": round(bulk["rss_mb"]), "build": round(build["rss_mb"]),
                                                     "rebuild": round(again["rss_mb"])},
        }  # fmt: skip
        _say(f"{n:,} items: index build {info['index_build']}")
    t = time.perf_counter()
    imported = import_file(settings, folder / "events.parquet")
    info["import_s"] = round(time.perf_counter() - t, 1)
    info["events_imported"] = imported.events_added
    t = time.perf_counter()
    published = publish_learned_vectors(settings, checkpoint)  # the build wrote them: finds them, writes nothing
    assert published is not None and not published.written and published.items == n, published
    info["publish_s"] = round(time.perf_counter() - t, 1)
    info["learned_vectors"] = "written by the build"
    _say(f"{n:,} items: {info['events_imported']:,} events imported in {info['import_s']} s; publishing found the "
         f"learned vectors in place in {info['publish_s']} s")  # fmt: skip
    return info


def _say(line: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.1f}] {line}", flush=True)


def _users_and_words(folder: Path, k: int = 200) -> tuple[list[str], list[str]]:
    """Users with at least 5 events (seeded sample) and title words to search for."""
    import pandas as pd

    events = pd.read_parquet(folder / "events.parquet", columns=["user_id"])
    counts = events["user_id"].value_counts()
    users = sorted(counts[counts >= 5].index.astype(str))
    rng = random.Random(3)
    titles = pd.read_parquet(folder / "catalog.parquet", columns=["title"])["title"].head(5000)
    words = sorted({w for t in titles for w in str(t).lower().split() if w.isalpha() and len(w) > 3})
    return rng.sample(users, min(k, len(users))), words


def _measure(folder: Path, alias: str, requests: int, port: int) -> dict:
    import httpx

    from bench.bench_service import serve, wait_ready

    settings = _settings(folder, alias)
    log = open(folder / "service.log", "w")  # noqa: SIM115  (closed below)
    proc = serve(settings, port, {"RECSEARCH_SERVICE_PORT": str(port)}, stderr=log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            t = time.perf_counter()
            wait_ready(http, proc, timeout=1800)
            ready_s = time.perf_counter() - t
            users, words = _users_and_words(folder)
            rng = random.Random(5)
            times: dict[str, list[float]] = {"recommend": [], "search": []}
            personal = {"recommend": 0, "search": 0}
            parts: dict[str, list[float]] = {}  # /v1/search's Server-Timing: embed, retrieve (the node), rank
            for i in range(requests + 50):  # 50 warm-up rounds
                user = users[i % len(users)]
                for route in ("recommend", "search"):
                    start = time.perf_counter()
                    if route == "recommend":
                        r = http.get(f"/v1/recommend/{user}", params={"k": 10})
                    else:
                        r = http.post("/v1/search", json={"query": rng.choice(words), "user_id": user, "k": 10})
                    elapsed = time.perf_counter() - start
                    r.raise_for_status()
                    if i >= 50:
                        times[route].append(elapsed)
                        personal[route] += bool(r.json().get("personalized"))
                        for name, ms in server_timing(r.headers.get("Server-Timing", "")).items():
                            parts.setdefault(name, []).append(ms / 1000)
            rss, hwm = _status(proc.pid, "VmRSS"), _status(proc.pid, "VmHWM")
            load = round(os.getloadavg()[0], 1)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    return {
        "ready_s": round(ready_s, 1), "rss_mb": round(rss), "peak_rss_mb": round(hwm), "load_average": load,
        **{route: {"p50_ms": _pct(v, 50), "p99_ms": _pct(v, 99), "n": len(v), "personalized": personal[route]}
           for route, v in times.items()},
        "search_parts": {name: {"p50_ms": _pct(v, 50), "p99_ms": _pct(v, 99)} for name, v in parts.items()},
    }  # fmt: skip


def server_timing(header: str) -> dict[str, float]:
    """``{name: milliseconds}`` of a ``Server-Timing`` header (``embed;dur=0.01, retrieve;dur=12.3, ...``)."""
    out = {}
    for entry in header.split(","):
        name, _, rest = entry.strip().partition(";")
        if rest.startswith("dur="):
            try:
                out[name] = float(rest[4:])
            except ValueError:
                continue
    return out


def _status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_service(sizes: list[int], dim: int, requests: int, *, index_build: bool = False, port: int = PORT) -> dict:
    """Each size prepared, served and measured in turn (one index at a time on the node), then the ratios."""
    from core.opensearch.client import make_client
    from core.settings import get_settings

    client = make_client(get_settings().opensearch)
    rows = []
    for n in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"svc-scale-{n}-"))
        alias = f"bench-svc-{n}-{uuid.uuid4().hex[:6]}"
        try:
            row = _prepare(n, dim, folder, alias, index_build and n == max(sizes))
            row.update(_measure(folder, alias, requests, port))
        finally:
            client.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
            shutil.rmtree(folder, ignore_errors=True)
        rows.append(row)
        print(f"service {n:>9,} items x {dim}: build {row['build_s']} s, ready {row['ready_s']} s, RSS {row['rss_mb']} "
              f"MB (peak {row['peak_rss_mb']}); recommend p50/p99 {row['recommend']['p50_ms']}/"
              f"{row['recommend']['p99_ms']} ms, search p50/p99 {row['search']['p50_ms']}/{row['search']['p99_ms']} "
              f"ms; personalized {row['recommend']['personalized']}/{row['search']['personalized']} of "
              f"{row['recommend']['n']}", flush=True)  # fmt: skip
        if row.get("search_parts"):
            inside = ", ".join(f"{name} {v['p50_ms']}/{v['p99_ms']}" for name, v in row["search_parts"].items())
            print(f"  /v1/search inside the service, p50/p99 ms: {inside}", flush=True)
        if "index_build" in row:
            print(f"index build {n:,}: {row['index_build']}", flush=True)
    small, large = rows[0], rows[-1]
    ratios = {route: round(large[route]["p99_ms"] / small[route]["p99_ms"], 2) for route in ("recommend", "search")}
    # Where a bend of /v1/search comes from: the node's retrieval or the service's ranking.
    for name in set(small.get("search_parts", {})) & set(large.get("search_parts", {})):
        low, high = small["search_parts"][name]["p99_ms"], large["search_parts"][name]["p99_ms"]
        ratios[f"search_{name}"] = round(high / low, 2) if low else None
    print(f"p99 at {large['items']:,} / at {small['items']:,}: recommend {ratios['recommend']}x, search "
          f"{ratios['search']}x (goal <= 1.5); RSS {large['rss_mb']} MB (goal <= 2048)", flush=True)  # fmt: skip
    return {"sizes": rows, "p99_ratio": ratios, "goal": {"p99_ratio": "<= 1.5", "rss_mb": "<= 2048"}}
