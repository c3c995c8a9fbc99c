"""Training's inputs from one event file, read by two checkouts' code: the next-item examples and the item statistics
must be equal (issue 16: the compact read must not change Online Retail's training).

    PYTHONPATH=. .venv/bin/python bench/compare_training_inputs.py --baseline ../main [--events FILE]

Each checkout reads the file as its `recadmin train --events FILE` does (this one: compact columns, only the item
table's items) and builds the examples and statistics, in a process of its own; the item table is the file's stock
codes (Online Retail's rule marks which are recommendable), whole and with every 10th item left out. Prints one line
per table and exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import inspect
import pickle
import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"


def _item_table(events: Path, every: int):
    import pandas as pd

    from core.online_retail import is_product_code, stock_codes
    from ranker.model import ItemVectors

    codes = sorted(set(stock_codes(pd.read_parquet(events, columns=["StockCode"])["StockCode"]).dropna()))
    if every:
        codes = [c for n, c in enumerate(codes) if n % every]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(codes), 16)).astype(np.float32)
    return ItemVectors.from_arrays(codes, vectors, recommendable=[is_product_code(c) for c in codes])


def phase(events: Path, every: int, out: Path) -> None:
    """The examples and statistics this process's code builds, pickled to ``out``."""
    from core.settings import RankerSettings, Settings
    from ranker.feedback import load_events
    from ranker.model import RankerConfig
    from ranker.training.examples import build_examples

    items, hp = _item_table(events, every), RankerSettings()
    if "compact" in inspect.signature(load_events).parameters:
        frame = load_events(Settings(), events, items=items.ids, max_events=hp.max_events, compact=True)
    else:
        frame = load_events(Settings(), events)
    config = RankerConfig(item_dim=items.dim, history_length=hp.history_length, feature_history=hp.feature_history)
    data = build_examples(
        frame, items, config, targets_per_basket=hp.targets_per_basket, validation_fraction=hp.validation_fraction,
        horizon_days=hp.horizon_days, seed=hp.seed,
    )  # fmt: skip
    ids = list(items.ids)
    got = {f.name: getattr(data, f.name) for f in fields(data)}
    for end in (False, True):
        got[f"target_counts_{end}"] = data.target_counts(ids, end)
        got[f"repeat_rates_{end}"] = data.repeat_rates(ids, end)
        got[f"cooccurrence_{end}"] = data.cooccurrence(ids, end).matrix
    got["latest_trend"] = data.latest_trend(ids)
    out.write_bytes(pickle.dumps(got))


def _same(a, b) -> bool:
    if hasattr(a, "tocsr"):
        return a.shape == b.shape and (a != b).nnz == 0
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return a == b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="the other checkout (e.g. main)")
    parser.add_argument("--events", type=Path, default=DATA)
    parser.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--every", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        sys.path.insert(0, str(Path.cwd()))
        phase(args.events, args.every, args.out)
        return
    if args.baseline is None:
        parser.error("--baseline is required")
    differ = False
    with tempfile.TemporaryDirectory() as tmp:
        for every in (0, 10):
            got = {}
            for name, code in (("baseline", args.baseline.resolve()), ("this", ROOT)):
                out = Path(tmp) / f"{name}-{every}.pkl"
                command = [sys.executable, __file__, "--phase", "--events", str(args.events.resolve()),
                           "--every", str(every), "--out", str(out)]  # fmt: skip
                subprocess.run(command, check=True, cwd=code, env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"})
                got[name] = pickle.loads(out.read_bytes())
            table = "every item" if not every else f"every {every}th item left out"
            bad = [k for k in got["this"] if not _same(got["this"][k], got["baseline"][k])]
            examples = len(got["this"]["target"])
            verdict = f"DIFFERENT: {', '.join(bad)}" if bad else f"all {len(got['this'])} arrays and tables equal"
            print(f"{table}: {examples:,} examples, {len(got['this']['item_rows']):,} events; {verdict}")
            differ |= bool(bad)
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
