"""Event import against catalogs of growing size: does the catalog check follow the events or the catalog?

    for each size N in --items (a synthetic shop, bench/synth_shop.py: N items, the same --events and --users):
    catalog       the shop's item ids bulk-written (ids only: the check reads nothing else) into a fresh index on
                  the node behind an alias of its own
    checked       `recadmin feedback import` as a library call (ranker.feedback.api.import_file, the live catalog
                  check on: each batch's distinct items asked by id) into a fresh SQLite store
    unchecked     the same file with --no-catalog-check into another fresh store, before and after the checked one
                  (the faster of the two is the baseline of the same run)
    read all      what the check cost before: reading every id of the version (core.opensearch.documents.read_items)
      goal        checked / unchecked close to 1 at every N, so the import's rate does not depend on the catalog's
                  size (before: 200k events took 133 s into a 1M-item shop against 3.5 s at 10k items)

    PYTHONPATH=. .venv/bin/python bench/bench_import_catalog.py [--quick] [--items 10000,1000000] [--events 200000]
        [--json PATH]

Needs the node (`recadmin opensearch start`; RECSEARCH_OPENSEARCH_URL). At 1M items about 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _settings(opensearch, folder: Path, alias: str, store: str):
    from core.settings import Settings, StoreSettings

    return Settings(
        opensearch=opensearch.model_copy(update={"index_alias": alias}),
        store=StoreSettings(url=f"sqlite:///{folder / store}"),
        state_dir=folder / "state",
    )


def write_ids(client, alias: str, ids: list[str]) -> str:
    """A fresh index holding one document per id (``_id`` = ``item_id``) behind ``alias``; returns its name."""
    from opensearchpy import helpers

    index = f"{alias}-v1"
    client.indices.delete(index=f"{alias}-*", ignore_unavailable=True)
    client.indices.create(index=index, body={
        "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"},
        "mappings": {"properties": {"item_id": {"type": "keyword"}}},
        "aliases": {alias: {}},
    })  # fmt: skip
    actions = ({"_index": index, "_id": i, "_source": {"item_id": i}} for i in ids)
    helpers.bulk(client, actions, chunk_size=5000, request_timeout=120)
    client.indices.refresh(index=index)
    return index


def run_size(items: int, events: int, users: int, folder: Path, opensearch=None) -> dict:
    """One catalog size: ``opensearch`` (settings) names the node, by default the environment's."""
    import pandas as pd

    from bench.synth_shop import ShopParams, generate
    from core.opensearch.client import make_client
    from core.opensearch.documents import read_items
    from core.settings import get_settings
    from ranker.feedback.api import import_file

    opensearch = opensearch or get_settings().opensearch
    alias = f"bench-catalog-{items}"
    t = time.perf_counter()
    generate(ShopParams(items=items, users=users, events=events, days=180, seed=1), folder)
    ids = pd.read_parquet(folder / "catalog.parquet", columns=["id"])["id"].astype(str).tolist()
    checked_settings = _settings(opensearch, folder, alias, "checked.db")
    client = make_client(checked_settings.opensearch)
    write_ids(client, alias, ids)
    row: dict = {"items": items, "events": events, "setup_s": round(time.perf_counter() - t, 1)}
    try:
        unchecked_s = []
        for store in ("unchecked-1.db", "checked.db", "unchecked-2.db"):  # the check between two baselines
            t = time.perf_counter()
            if store == "checked.db":
                checked = import_file(checked_settings, folder / "events.parquet")
                row["checked_s"] = round(time.perf_counter() - t, 2)
            else:
                unchecked = import_file(_settings(opensearch, folder, alias, store), folder / "events.parquet",
                                        check_catalog=False)  # fmt: skip
                unchecked_s.append(time.perf_counter() - t)
        row["unchecked_s"] = round(min(unchecked_s), 2)  # the faster baseline: the ratio errs against the check
        assert checked.events_added == unchecked.events_added > 0, (checked, unchecked)
        row["events_added"] = checked.events_added
        row["not_in_catalog"] = checked.not_in_catalog
        row["checked_vs_unchecked"] = round(row["checked_s"] / row["unchecked_s"], 3)
        t = time.perf_counter()
        read = read_items(client, alias, [], checked_settings.opensearch.url, page_size=2000)
        row["read_all_ids_s"] = round(time.perf_counter() - t, 2)
        assert len(read.ids) == items, len(read.ids)
    finally:
        client.indices.delete(index=f"{alias}-*", ignore_unavailable=True)
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="10000,1000000", help="catalog sizes, comma-separated")
    parser.add_argument("--quick", action="store_true", help="10k and 100k items")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in ("10000,100000" if args.quick else args.items).split(",")]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"import-catalog-{n}-") as tmp:
            row = run_size(n, args.events, args.users, Path(tmp))
        rows.append(row)
        print(f"  [{time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.1f}] {n:,} items: {row}", flush=True)
    first, last = rows[0], rows[-1]
    report = {
        "sizes": rows,
        "checked_import_largest_vs_smallest": round(last["checked_s"] / first["checked_s"], 3),
        "unchecked_import_largest_vs_smallest": round(last["unchecked_s"] / first["unchecked_s"], 3),
        "goal": "checked/unchecked close to 1 at every size",
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
