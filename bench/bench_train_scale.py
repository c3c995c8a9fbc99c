"""Training at scale: time per epoch, peak memory and the co-occurrence table's size against the event count.

    for each size N (a synthetic shop, bench/synth_shop.py: N events, N/40 users, N/ITEMS_PER items, Parquet,
    64-dim item vectors), in a process of its own:
    read          the event file as `recadmin train --events FILE` reads it (ranker.feedback.load_events)
    fit           ranker.training.fit.fit, the library call of `recadmin train`: examples, the sequence model
                  (RECSEARCH_SEQUENCE_*), then the attention reranker, each for a small fixed epoch budget
      reported    seconds per epoch of each model (the training steps; validation apart), training examples,
                  peak RSS (VmHWM) and RSS after the read, the co-occurrence table (pairs kept, bytes of its CSR
                  arrays and of the dense copy scoring keeps for small catalogs)
      goal        seconds per epoch / N at the largest N <= ~1.2x that at the smallest (at most linear); peak RSS
                  under the stated cap (docs/scaling.md "Training at scale")
    many items    one more run at MANY_ITEMS items (the co-occurrence table of a large catalog stays top-K sparse)

    PYTHONPATH=. .venv/bin/python bench/bench_train_scale.py [--quick] [--sizes 1000000,5000000,20000000]
        [--many-items 1000000] [--epoch-steps N] [--baseline CHECKOUT] [--json PATH] [--plot PATH]

Default sizes 1M, 5M, 20M; --quick 100k, 300k, 1M. Each fit has one reranker epoch and one sequence epoch (the
sequence model also stops at RECSEARCH_SEQUENCE_MAX_MINUTES), so a run's time is the read, the examples and those
epochs. A session's carts and purchases are stamped as one invoice (:func:`invoices`), so baskets hold several
items and the co-occurrence table has pairs to keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = "1000000,5000000,20000000"
QUICK = "100000,300000,1000000"
USERS_PER_EVENT = 1 / 40
#: Items in proportion to the events (Online Retail: ~100 events an item).
ITEMS_PER = 100
DIM = 64
RANKER_EPOCHS = 1
SEQUENCE_EPOCHS = 1


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _catalog_vectors(path: Path):
    """The synthetic catalog as the item table (its own vectors: no index needed)."""
    import pyarrow.parquet as pq

    from ranker.model import ItemVectors

    table = pq.read_table(path, columns=["id", "price", "vector"])
    flat = table.column("vector").combine_chunks().flatten().to_numpy()
    vectors = np.array(flat, dtype=np.float32).reshape(len(table), -1)
    return ItemVectors.from_arrays(table.column("id").to_pylist(), vectors, prices=table.column("price").to_numpy())


def phase_train(events: Path, catalog: Path) -> dict:
    """One training run on ``events`` in this process: the read, then the fit; times, memory and table sizes."""
    from core.settings import RankerSettings, SequenceSettings, Settings
    from ranker.feedback import load_events
    from ranker.training import TrainOptions
    from ranker.training.fit import fit

    settings = Settings()
    items = _catalog_vectors(catalog)
    ranker = RankerSettings(epochs=RANKER_EPOCHS)
    sequence = SequenceSettings(epochs=SEQUENCE_EPOCHS)
    started = time.perf_counter()
    # As `recadmin train` reads them (ranker.training.api.train_and_register): compact columns, the newest cap.
    frame = load_events(settings, events, items=items.ids, max_events=ranker.max_events, compact=True)
    read_s = time.perf_counter() - started
    rss_read = _status_mb("VmRSS")
    options = TrainOptions.from_settings(ranker, sequence)
    n_events = len(frame)
    started = time.perf_counter()
    result = fit(frame, items, options)
    fit_s = time.perf_counter() - started
    del frame
    cooc = result.item_stats.cooc.matrix
    # What the scorer holds: the table aligned with the item rows, and its dense copy when the catalog is small.
    from ranker.model.cooccurrence import dense_table

    aligned = result.item_stats.cooc.aligned(list(items.ids))
    dense = dense_table(aligned)
    info = result.info
    return {
        "events": n_events, "items": len(items), "read_s": round(read_s, 1), "fit_s": round(fit_s, 1),
        "train_examples": info["train_examples"],
        "ranker_epoch_s": info["epoch_seconds"], "sequence_epoch_s": info.get("sequence_epoch_seconds", []),
        "ranker_steps": info["epoch_steps"], "ranker_full_steps": info["full_epoch_steps"],
        "sequence_steps": info.get("sequence_epoch_steps", []),
        "sequence_full_steps": info.get("sequence_full_epoch_steps", 0),
        "sequence_s": info.get("sequence_seconds"),
        "val_ndcg10": round(result.metrics["val_ndcg@10"], 4),
        "sequence_val_ndcg10": round(result.metrics.get("sequence_val_ndcg@10", 0.0), 4),
        "cooc_pairs": int(cooc.nnz), "cooc_mb": round(_csr_bytes(aligned) / 2**20, 1),
        "cooc_dense_mb": round(dense.nbytes / 2**20, 1) if dense is not None else 0.0,
        "max_neighbours": int(np.diff(cooc.indptr).max(initial=0)),
        "rss_after_read_mb": round(rss_read), "peak_rss_mb": round(_status_mb("VmHWM")),
    }  # fmt: skip


def _csr_bytes(m) -> int:
    return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)


def phase_read(events: Path, catalog: Path) -> dict:
    """The read and what training builds from it before any epoch (the examples, the item statistics), in this
    process; with the compact read when this code has it (the baseline's code, ``--baseline``, may not)."""
    import inspect

    from core.settings import RankerSettings, Settings
    from ranker.feedback import load_events
    from ranker.model import ItemStats, RankerConfig
    from ranker.training.examples import build_examples

    settings, hp = Settings(), RankerSettings()
    items = _catalog_vectors(catalog)
    base = _status_mb("VmRSS")
    started = time.perf_counter()
    compact = "compact" in inspect.signature(load_events).parameters
    if compact:  # as ranker.training.api.train_and_register reads them
        frame = load_events(settings, events, items=items.ids, max_events=hp.max_events, compact=True)
    else:
        frame = load_events(settings, events)
    read_s = time.perf_counter() - started
    rss_read, frame_mb = _status_mb("VmRSS"), frame.memory_usage(deep=True).sum() / 2**20
    started = time.perf_counter()
    config = RankerConfig(item_dim=items.dim, history_length=hp.history_length, feature_history=hp.feature_history)
    data = build_examples(
        frame, items, config, targets_per_basket=hp.targets_per_basket, validation_fraction=hp.validation_fraction,
        horizon_days=hp.horizon_days, seed=hp.seed,
    )  # fmt: skip
    ids = list(items.ids)
    stats = ItemStats.fit(data.target_counts(ids), items.prices, data.cooccurrence(ids), data.repeat_rates(ids),
                          data.latest_trend(ids))  # fmt: skip
    examples_s = time.perf_counter() - started
    return {
        "events": len(frame), "items": len(items), "compact": compact, "read_s": round(read_s, 1),
        "examples_s": round(examples_s, 1), "train_examples": len(data.train_index),
        "frame_mb": round(frame_mb), "rss_before_read_mb": round(base), "rss_after_read_mb": round(rss_read),
        "peak_rss_mb": round(_status_mb("VmHWM")), "cooc_pairs": int(stats.cooc.matrix.nnz),
    }  # fmt: skip


def _run_phase(
    events: Path, catalog: Path, phase: str = "train", code: Path | None = None, epoch_steps: int | None = None
) -> dict:
    command = [sys.executable, __file__, "--phase", phase, "--file", str(events), "--catalog", str(catalog)]
    env = dict(os.environ)
    if epoch_steps:  # both models' per-epoch cap (RECSEARCH_*_EPOCH_STEPS): a random sample of the batches
        env |= {"RECSEARCH_RANKER_EPOCH_STEPS": str(epoch_steps), "RECSEARCH_SEQUENCE_EPOCH_STEPS": str(epoch_steps)}
    out = subprocess.run(command + (["--code", str(code)] if code else []), check=False, capture_output=True,
                         text=True, cwd=code or ROOT, env=env)  # fmt: skip
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {out.returncode}: " + " | ".join(tail)}
    return json.loads(out.stdout.strip().splitlines()[-1])


def invoices(path: Path) -> None:
    """Stamp each session's carts and purchases with the time of its first purchase, as one invoice.

    A basket is a user's events of one moment (an Online Retail invoice); the synthetic shop gives every event its
    own second, so without this every basket holds one item and the co-occurrence table stays empty. One row group
    at a time (the shop writes a block of users, whole sessions, per row group), so 20M events fit in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    stamped_path = path.with_name(path.stem + "-invoices.parquet")
    writer = None
    for group in range(source.num_row_groups):
        frame = source.read_row_group(group).to_pandas()
        bought = frame["type"].isin(["add_to_cart", "purchase"])
        first = frame.loc[frame["type"] == "purchase"].groupby("session_id")["ts"].min()
        stamped = frame.loc[bought, "session_id"].map(first)
        frame.loc[bought, "ts"] = stamped.fillna(frame.loc[bought, "ts"]).to_numpy()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(stamped_path, table.schema)
        writer.write_table(table, row_group_size=200_000)
    if writer is not None:
        writer.close()
        stamped_path.replace(path)


def _generate(size: int, items: int, seed: int, folder: Path) -> tuple[Path, float]:
    from bench.synth_shop import ShopParams, generate

    shop = folder / f"shop{size}-{items}"
    started = time.perf_counter()
    params = ShopParams(items=items, users=max(1, int(size * USERS_PER_EVENT)), events=size, days=365, seed=seed,
                        vectors=DIM)  # fmt: skip
    generate(params, shop)
    invoices(shop / "events.parquet")
    return shop, time.perf_counter() - started


def measure(
    size: int, items: int, seed: int, folder: Path, epoch_steps: int | None = None, baseline: Path | None = None
) -> dict:
    """One row: a shop of ``size`` events over ``items`` items, generated, then trained on in a fresh process.

    With ``epoch_steps`` each epoch trains that many steps (a random sample of the batches); seconds per epoch are
    then the steps' mean time times a full epoch's steps (``*_s_per_epoch``; ``*_s_per_step`` beside them). With
    ``baseline`` (a checkout) that code trains on the same shop right after, in a process of its own
    (``row["baseline"]``)."""
    shop, generated = _generate(size, items, seed, folder)
    files = (shop / "events.parquet", shop / "catalog.parquet")
    try:
        row = _per_step(_run_phase(*files, epoch_steps=epoch_steps))
        if baseline is not None:
            row["baseline"] = _per_step(_run_phase(*files, code=baseline, epoch_steps=epoch_steps))
    finally:
        shutil.rmtree(shop, ignore_errors=True)
    row.update({"size": size, "catalog": items, "generate_s": round(generated, 1), "epoch_steps": epoch_steps})
    return row


def _per_step(row: dict) -> dict:
    """Seconds per step and per (full) epoch of both models, from a training phase's epoch times."""
    if "error" in row:
        return row
    ranker_step = float(np.mean(row["ranker_epoch_s"])) / max(1, row["ranker_steps"])
    row["ranker_s_per_step"] = round(ranker_step, 4)
    row["ranker_s_per_epoch"] = round(ranker_step * row["ranker_full_steps"], 2)
    if row["sequence_epoch_s"]:
        step = float(np.sum(row["sequence_epoch_s"])) / max(1, int(np.sum(row["sequence_steps"])))
        row["sequence_s_per_step"] = round(step, 4)
        row["sequence_s_per_epoch"] = round(step * row["sequence_full_steps"], 2)
    else:
        row["sequence_s_per_step"] = row["sequence_s_per_epoch"] = 0
    return row


def measure_read(size: int, items: int, seed: int, folder: Path, baseline: Path | None, baseline_max: int) -> dict:
    """One row of ``--read-only``: the same shop read (and its examples built) by this code and, up to
    ``baseline_max`` events, by the ``baseline`` checkout's code, each in a fresh process."""
    shop, generated = _generate(size, items, seed, folder)
    try:
        row = {"size": size, "catalog": items, "generate_s": round(generated, 1)}
        row["after"] = _run_phase(shop / "events.parquet", shop / "catalog.parquet", "read")
        if baseline is not None and size <= baseline_max:
            row["before"] = _run_phase(shop / "events.parquet", shop / "catalog.parquet", "read", baseline)
    finally:
        shutil.rmtree(shop, ignore_errors=True)
    return row


def summarize(rows: list[dict]) -> dict:
    """Seconds per epoch per event at the largest size against the smallest (goal <= ~1.2: at most linear)."""
    ok = sorted((r for r in rows if "error" not in r and not r.get("many_items")), key=lambda r: r["size"])
    if len(ok) < 2:
        return {}
    small, large = ok[0], ok[-1]
    out = {"sizes": f"{small['size']:,} -> {large['size']:,}", "goal": "<= 1.2"}
    for model in ("ranker", "sequence"):
        per = [r[f"{model}_s_per_epoch"] / r["size"] for r in (small, large)]
        out[f"{model}_epoch_per_event_ratio"] = round(per[1] / per[0], 3) if per[0] else None
    out["peak_rss_mb"] = {r["size"]: r["peak_rss_mb"] for r in ok}
    if all("error" not in r.get("baseline", {"error": 1}) for r in (small, large)):
        base = [r["baseline"] for r in (small, large)]
        out["baseline_ranker_epoch_per_event_ratio"] = round(
            (base[1]["ranker_s_per_epoch"] / large["size"]) / (base[0]["ranker_s_per_epoch"] / small["size"]), 3
        )
        # Each size's reranker step against the baseline code's on the same shop (< 1: this code is faster).
        out["ranker_step_vs_baseline"] = {
            r["size"]: round(r["ranker_s_per_step"] / r["baseline"]["ranker_s_per_step"], 3) for r in ok
        }
    return out


def plot(rows: list[dict], target: Path) -> None:
    """Seconds per epoch (both models) and peak RSS against the event count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = sorted((r for r in rows if "error" not in r and not r.get("many_items")), key=lambda r: r["size"])
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4))
    catalogs = {r["catalog"] for r in mine}
    catalog = f"{catalogs.pop():,} items" if len(catalogs) == 1 else f"items = events / {ITEMS_PER}"
    capped = any(r.get("epoch_steps") for r in mine)
    x = [r["size"] for r in mine]
    speed.plot(x, [r["sequence_s_per_epoch"] for r in mine], "o-", label="sequence model, s/epoch")
    speed.plot(x, [r["ranker_s_per_epoch"] for r in mine], "s-", label="reranker, s/epoch")
    if mine:  # the linear reference through the smallest size
        base = mine[0]
        for key, style in (("sequence_s_per_epoch", "C0:"), ("ranker_s_per_epoch", "C1:")):
            speed.plot(x, [base[key] * s / base["size"] for s in x], style, label=f"linear from {base['size']:,}")
    memory.plot(x, [r["peak_rss_mb"] for r in mine], "o-", label="peak RSS (read + fit)")
    memory.plot(x, [r["rss_after_read_mb"] for r in mine], "s:", label="RSS after reading the events")
    memory.plot(x, [r["cooc_mb"] for r in mine], "^--", label="co-occurrence table (CSR)")
    for ax, label in ((speed, "seconds per epoch"), (memory, "MB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"events ({catalog}, users = events / 40)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    speed.set_title("Training time per epoch against events" + (" (from timed steps)" if capped else ""))
    memory.set_title("Training memory against events")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)


def _read_line(r: dict) -> str:
    if "error" in r:
        return r["error"]
    return (f"read {r['read_s']}s, examples+statistics {r['examples_s']}s, frame {r['frame_mb']} MB, RSS before "
            f"read {r['rss_before_read_mb']} MB, after read {r['rss_after_read_mb']} MB, peak {r['peak_rss_mb']} MB "
            f"({r['train_examples']:,} training examples)")  # fmt: skip


def read_only(args: argparse.Namespace) -> None:
    """``--read-only``: per size, the read and the examples by this code (and the baseline's), RSS and time."""
    sizes = [int(s) for s in (QUICK if args.quick else args.sizes).split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-train-read-") as tmp:
        for size in sizes:
            row = measure_read(size, max(1_000, size // ITEMS_PER), args.seed, Path(tmp), args.baseline,
                               args.baseline_max)  # fmt: skip
            rows.append(row)
            for name in ("before", "after"):
                if name in row:
                    print(f"{size:,} events, {name}: {_read_line(row[name])}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"read_only": rows}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=SIZES)
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK}")
    parser.add_argument(
        "--many-items",
        type=int,
        default=None,
        help="one more run at this many items (default: 1,000,000; --quick 100,000; 0: none)",
    )
    parser.add_argument(
        "--many-items-events", type=int, default=None, help="events of that run (default: the largest size)"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--items", type=int, default=None, help=f"one catalog size for every run (default: events / {ITEMS_PER})"
    )
    parser.add_argument(
        "--epoch-steps",
        type=int,
        default=None,
        help="train each epoch for this many steps (RECSEARCH_*_EPOCH_STEPS) and report seconds per step and the "
        "full epoch they imply (steps x a full epoch's steps): the large sizes in minutes instead of hours",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, help="write the PNG of the curves here")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="only the read, the examples and the item statistics (no epochs): memory at 5M-20M",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also read (--read-only) or train on each shop with this checkout's code (e.g. main's), same run",
    )
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=5_000_000,
        help="largest size the baseline reads (its string frame needs ~18 GB at 20M)",
    )
    parser.add_argument("--phase", choices=["train", "read"], help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    if args.phase:
        if args.code:  # the baseline's packages before this checkout's
            sys.path.insert(0, str(args.code.resolve()))
        phase = phase_read if args.phase == "read" else phase_train
        print(json.dumps(phase(args.file, args.catalog)))
        return
    if args.read_only:
        read_only(args)
        return

    sizes = [int(s) for s in (QUICK if args.quick else args.sizes).split(",")]
    many = args.many_items if args.many_items is not None else (100_000 if args.quick else 1_000_000)
    runs = [(size, args.items or max(1_000, size // ITEMS_PER), False) for size in sizes]
    if many:
        runs.append((args.many_items_events or sizes[-1], many, True))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-train-scale-") as tmp:
        for size, items, many_items in runs:
            row = measure(size, items, args.seed, Path(tmp), args.epoch_steps, args.baseline)
            row["many_items"] = many_items
            rows.append(row)
            if "error" in row:
                print(f"{size:,} events, {items:,} items: {row['error']}", flush=True)
                continue
            print(
                f"{size:,} events, {items:,} items: read {row['read_s']}s, {row['train_examples']:,} examples; "
                f"sequence {row['sequence_s_per_epoch']}s/epoch ({row['sequence_s_per_step']}s/step), "
                f"reranker {row['ranker_s_per_epoch']}s/epoch ({row['ranker_s_per_step']}s/step) "
                f"(fit {row['fit_s']}s); co-occurrence {row['cooc_pairs']:,} pairs, {row['cooc_mb']} MB "
                f"(dense copy {row['cooc_dense_mb']} MB); RSS after read {row['rss_after_read_mb']} MB, "
                f"peak {row['peak_rss_mb']} MB",
                flush=True,
            )
            base = row.get("baseline")
            if base is not None:
                print("  baseline code: " + (base["error"] if "error" in base else
                      f"sequence {base['sequence_s_per_step']}s/step, reranker {base['ranker_s_per_step']}s/step "
                      f"(fit {base['fit_s']}s), peak {base['peak_rss_mb']} MB"), flush=True)  # fmt: skip
    summary = summarize(rows)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n")
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
