"""Shopper sessions an online experiment needs to name the better ranker: team-draft interleaving against an A/B
split, on the same simulated shoppers, for pairs of rankers from far apart to identical.

Set-up (real parts, as tests/integration/ranker/experiments/test_simulated_shoppers.py): the ``--items`` most sold
Online Retail items from ``--since`` indexed with the product's embedder on the running node, the events before
``--cutoff`` imported into a fresh SQLite store and a ranker trained on them (``--epochs``), and each held-out
shopper's list as the service serves it (``GET /v1/recommend`` of the real app in-process, 2k+1 deep, with scores).
The pairs: the trained ranker (treatment) against itself with Gaussian noise of ``level`` x the standard deviation of
each list's scores added to its scores (control; one fixed draw per shopper and level: a fixed, worse ranker), for
each ``--noise`` level; level 0 is two identical copies (an A-vs-A check).

Then each pair runs ``--runs`` times in each mode with :func:`bench.sim_experiment.simulate` (the product's
interleaving, arms, credit and statistics in-process; a new experiment name, shopper order and shopper randomness per
run) for ``--budget`` sessions each (at most one per shopper: the service shows a shopper who comes back the same
interleaved list or the same arm, so repeated sessions of one shopper are not independent, which the report's
per-answer tests assume), and reports per pair and mode: the median sessions until p < alpha on clicks
stayed so to the end (runs that never got there count as more than the budget), the share of runs that named the
better ranker, the share that named the worse, and how far apart the pair is (the top-10 lists' overlap; clicks
per session of each under A/B).

    .venv/bin/python bench/bench_experiments.py [--quick] [--runs R] [--budget S] [--noise 0,0.5,1,2,4]
        [--json FILE] [--plot docs/img/experiment_sessions.png]

Needs the node (RECSEARCH_OPENSEARCH_URL); the index it builds is dropped at the end. Goal (issue 17): interleaving
names the better ranker in fewer sessions than A/B at every level, and at level 0 each mode's false-positive share
stays near alpha.
Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5BW33
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)

sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"
MODES = ("interleave", "ab")


def served_lists(args: argparse.Namespace, work: Path) -> tuple[list, dict[str, list[tuple[str, float]]], dict]:
    """The held-out shoppers, each one's list as the trained ranker serves it ((id, score), best first), and the
    catalog's prices. Builds and drops its own index."""
    import pandas as pd
    from fastapi.testclient import TestClient
    from rich.progress import track

    from bench.sim_shopper import catalog_items, split_users
    from core.opensearch.client import make_client
    from core.settings import Settings, StoreSettings, UbiSettings
    from indexer import api
    from ranker.feedback import events_frame_from_file, import_file
    from ranker.service import create_app
    from ranker.training.api import train_and_register
    from ranker.training.options import TrainOptions

    base = Settings()
    settings = base.model_copy(update={
        "opensearch": base.opensearch.model_copy(update={"index_alias": f"bench-exp-{uuid.uuid4().hex[:8]}"}),
        "store": StoreSettings(url=f"sqlite:///{work / 'store.db'}"), "ubi": UbiSettings(sink="none"),
        "service": base.service.model_copy(update={"allowed_hosts": "testserver"}), "state_dir": work / "state",
    })  # fmt: skip
    cutoff = datetime.fromisoformat(args.cutoff)
    frame = pd.read_parquet(args.events)
    frame = frame[frame["InvoiceDate"] >= args.since]
    frame = frame[frame["StockCode"].isin(frame["StockCode"].value_counts().index[: args.items])]
    whole, before = work / "slice.parquet", work / "before.parquet"
    frame.to_parquet(whole)
    frame[frame["InvoiceDate"] < cutoff].to_parquet(before)
    try:
        print(f"indexing {args.items} items, importing the events before {args.cutoff}, training ...", file=sys.stderr)
        api.build_from_catalog(settings, whole)
        import_file(settings, before, check_catalog=False)
        options = TrainOptions.from_settings(settings.ranker, seed=args.seed, epochs=args.epochs)
        train_and_register(settings, events_file=before, options=options, activate=True)
        prices = catalog_items(settings)
        _, shoppers = split_users(events_frame_from_file(whole), cutoff, catalog=set(prices))
        lists = {}
        with TestClient(create_app(settings)) as client:
            for s in track(shoppers, description="served lists", transient=True):
                body = client.get(f"/v1/recommend/{s.user_id}", params={"k": 2 * args.k + 1}).json()
                if body.get("personalized"):
                    lists[s.user_id] = [(r["id"], float(r["score"])) for r in body["results"]]
    finally:
        make_client(settings.opensearch).indices.delete(
            index=f"{settings.opensearch.index_alias}-v*", ignore_unavailable=True, allow_no_indices=True
        )
    return [s for s in shoppers if s.user_id in lists], lists, prices


def noisy(lists: dict[str, list[tuple[str, float]]], level: float, seed: int) -> dict[str, list[str]]:
    """Each list reordered by its scores plus Gaussian noise of ``level`` x the list's score spread (one seeded
    draw per user: a fixed ranker, worse the larger ``level``)."""
    rng = np.random.default_rng(seed)
    out = {}
    for user in sorted(lists):
        ids = [i for i, _ in lists[user]]
        if level == 0:
            out[user] = ids  # a copy: the very same lists
            continue
        scores = np.array([s for _, s in lists[user]])
        spread = float(scores.std()) or 1.0
        order = np.argsort(-(scores + rng.normal(0.0, level * spread, len(scores))), kind="stable")
        out[user] = [ids[j] for j in order]
    return out


def summary(runs: list, budget: int) -> dict:
    """Median sessions to significance (the better side named; others count as above the budget) and the shares."""
    needed = sorted(r.significant_from if r.winner == "treatment" else float("inf") for r in runs)
    median = statistics.median(needed) if needed else float("inf")
    return {
        "runs": len(runs),
        "median_sessions": None if median == float("inf") else median,
        "reached_better": sum(r.winner == "treatment" for r in runs) / len(runs),
        "named_worse": sum(r.winner == "control" for r in runs) / len(runs),
        "budget": budget,
        "per_session": {
            side: {m: statistics.mean(r.per_session[side][m] for r in runs) for m in metrics}
            for side, metrics in runs[0].per_session.items()
        },
    }


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    levels = [p["noise"] for p in result["pairs"] if p["noise"] > 0]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    budget = result["budget"]
    for mode, colour in (("interleave", "#1f5fbf"), ("ab", "#d0622a")):
        ys = [p[mode]["median_sessions"] for p in result["pairs"] if p["noise"] > 0]
        shown = [y if y is not None else budget * 1.15 for y in ys]
        label = "team-draft interleaving" if mode == "interleave" else "A/B split"
        ax.plot(levels, shown, marker="o", color=colour, label=label)
        for x, y, p in zip(levels, shown, [p for p in result["pairs"] if p["noise"] > 0], strict=True):
            below = -12 if mode == "ab" else 6  # the two labels apart where both lines sit above the budget
            ax.annotate(f"{p[mode]['reached_better']:.0%}", (x, y), textcoords="offset points", xytext=(4, below),
                        color=colour, fontsize=8)  # fmt: skip
    ax.axhline(budget, color="grey", linestyle="--", linewidth=1, label=f"budget ({budget:,} sessions)")
    ax.set_yscale("log")
    ax.set_xscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("noise added to the trained ranker's scores (x each list's score spread): further apart ->")
    ax.set_ylabel(f"sessions until p < {result['alpha']} (median)")
    ax.set_title(f"{result['shoppers']} simulated shoppers, {result['runs']} runs per point "
                 "(labels: share of runs naming the better ranker)", fontsize=9)  # fmt: skip
    ax.legend(loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="150 items, 1 epoch, 10 runs of 1,000 sessions")
    parser.add_argument("--events", type=Path, default=DATA)
    parser.add_argument("--items", type=int, default=None, help="The most sold items to index (default 300).")
    parser.add_argument("--since", default="2011-06-01", help="Events from this date on.")
    parser.add_argument("--cutoff", default="2011-11-01", help="History before; wanted: bought after.")
    parser.add_argument("--epochs", type=int, default=None, help="Training epochs (default 3).")
    parser.add_argument("--runs", type=int, default=None, help="Runs per pair and mode (default 40).")
    parser.add_argument("--budget", type=int, default=None, help="Sessions per run (default: one per shopper).")
    parser.add_argument("--noise", default="0,0.25,0.5,1,2,4", help="Noise levels of the control ranker.")
    parser.add_argument("--k", type=int, default=10, help="Items shown per session.")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None, help="The figure (PNG) to write.")
    args = parser.parse_args(argv)
    quick = args.quick
    args.items = args.items or (150 if quick else 300)
    args.epochs = args.epochs or (1 if quick else 3)
    args.runs = args.runs or (10 if quick else 40)
    budget = args.budget or (1000 if quick else None)
    levels = [float(x) for x in args.noise.split(",")]

    from rich.progress import Progress

    from bench.sim_experiment import simulate
    from core.settings import Settings

    alpha = Settings().experiments.alpha
    with tempfile.TemporaryDirectory() as tmp:
        shoppers, lists, prices = served_lists(args, Path(tmp))
    treatment = {u: [i for i, _ in items] for u, items in lists.items()}
    args.budget = min(budget or len(shoppers), len(shoppers))  # each shopper at most once: see the module's text
    result = {"shoppers": len(shoppers), "items": args.items, "epochs": args.epochs, "runs": args.runs,
              "budget": args.budget, "alpha": alpha, "k": args.k, "pairs": []}  # fmt: skip
    with Progress() as bar:
        task = bar.add_task("simulated experiments", total=len(levels) * len(MODES) * args.runs)
        for n, level in enumerate(levels):
            control = noisy(lists, level, seed=1000 + n)
            overlap = statistics.mean(len(set(control[u][: args.k]) & set(treatment[u][: args.k])) / args.k
                                      for u in treatment)  # fmt: skip
            pair = {"noise": level, "top_k_overlap": overlap}
            for mode in MODES:
                runs = []
                for r in range(args.runs):
                    runs.append(simulate(mode, control, treatment, shoppers, args.budget, seed=r, k=args.k,
                                         prices=prices, alpha=alpha))  # fmt: skip
                    bar.advance(task)
                pair[mode] = summary(runs, args.budget)
            result["pairs"].append(pair)
            print(line(pair))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.plot:
        plot(result, args.plot)
    return result


def line(pair: dict) -> str:
    """One pair's figures in one line."""

    def mode(m: str) -> str:
        s = pair[m]
        median = f"{s['median_sessions']:,.0f}" if s["median_sessions"] is not None else f">{s['budget']:,}"
        return f"{m} {median} sessions (better named {s['reached_better']:.0%}, worse {s['named_worse']:.0%})"

    ab = pair["ab"]["per_session"]
    return (f"noise {pair['noise']:g} (top-10 overlap {pair['top_k_overlap']:.2f}; A/B clicks/session "
            f"{ab['control']['click']:.3f} vs {ab['treatment']['click']:.3f}, revenue {ab['control']['revenue']:.2f} "
            f"vs {ab['treatment']['revenue']:.2f}): {mode('interleave')}; {mode('ab')}")  # fmt: skip


if __name__ == "__main__":
    main()
