"""Does enrichment help a shopper's search? The personalized-search query set, anonymous, with and without enrichment.

The queries are the ones ``recadmin evaluate --attention`` asks in its personalized-search protocol
(``ranker.evaluation.search``): for a bought item, the two words of its title that most catalog items hold ("bag
red", "holder light"), a short query that names the item without singling it out. Here the bought items are the B
of the (customer, A, next-bought B) pairs of ``bench_enrich_recall.py`` (same seed: the same items, so their
enrichments come from the cache), one search per pair.

The catalog searched is the **items of the pairs only, every one of them enriched** (enriching all 3.9k items of
Online Retail takes hours on 2 cores). So both arms search the same small catalog, and in the "with" arm every item
carries its accepted enrichment (no target is favoured by being the only enriched item). Two versions are built with
the product's own ``build_index`` on the node of ``RECSEARCH_OPENSEARCH_URL`` (without, and with the accepted
enrichments: enriched description and attributes in their fields, the vector embedded from the enriched text),
each behind a throwaway alias, and deleted afterwards. Each query is asked as ``/v1/search`` asks it
(``bm25_search``, ``knn_search`` of the query's vector, ``hybrid_search`` = both fused), ``--candidates`` hits.

Per mode and arm: MRR and HR@10 of the bought item, and **adherence@10**, the share of the top 10 whose *original*
text holds every query word (what the shopper typed, in what the shop wrote), with the paired bootstrap interval
of the MRR difference (with - without).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_enrich_search.py [--pairs 300] [--json PATH]

Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5BW33
(CC BY 4.0).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)
sys.path.insert(0, str(ROOT))

MODES = ("bm25", "knn", "hybrid")


def searches(pairs: Sequence[tuple[str, str]], texts: dict[str, str]) -> list[tuple[str, tuple[str, ...]]]:
    """(bought item, query words) per pair: the words of B's text most catalog items hold (the protocol's rule),
    counted over ``texts`` (item id -> original text, the whole catalog); pairs whose B has no word are left out."""
    from ranker.evaluation.search import QueryBuilder

    ids = list(texts)
    catalog = SimpleNamespace(texts=[texts[i] for i in ids], position={item: n for n, item in enumerate(ids)})
    builder = QueryBuilder(catalog)  # duck-typed: QueryBuilder reads only .texts and .position
    out = []
    for _, b in pairs:
        words = builder.query(b)
        if words:
            out.append((b, words))
    return out


def score(
    orders: Sequence[Sequence[str]], cases: Sequence[tuple[str, tuple[str, ...]]], words: Callable[[str], set[str]]
) -> dict[str, np.ndarray]:
    """Per case: reciprocal rank of the bought item (0: not retrieved), hit@10, and adherence@10 (the share of the
    top 10 whose original words hold every query word; 0 for an empty list)."""
    rr, hit, adherence = [], [], []
    for order, (target, query) in zip(orders, cases, strict=True):
        rank = order.index(target) + 1 if target in order else 0
        rr.append(1.0 / rank if rank else 0.0)
        hit.append(1.0 if 0 < rank <= 10 else 0.0)
        top = order[:10]
        adherence.append(sum(set(query) <= words(i) for i in top) / len(top) if top else 0.0)
    return {"rr": np.array(rr), "hit@10": np.array(hit), "adherence@10": np.array(adherence)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7, help="bench_enrich_recall.py's seed: the same pairs")
    parser.add_argument("--candidates", type=int, default=100, help="hits per query (the service's candidates)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from bench.bench_enrich_recall import DATA, next_item_pairs, repo_settings
    from core.embedding import load_embedder
    from core.opensearch.client import make_client
    from indexer.api import make_enricher
    from indexer.build import build_index
    from indexer.catalog import read_catalog
    from indexer.index import ItemsIndex
    from indexer.search import bm25_search, hybrid_search, knn_search
    from ranker.evaluation.bootstrap import paired_bootstrap
    from ranker.evaluation.search import words_of

    settings = repo_settings()
    items = read_catalog(DATA).items
    by_id = {it.id: it for it in items}
    pairs = next_item_pairs(args.pairs, args.seed, set(by_id))
    sub = [by_id[i] for i in dict.fromkeys(x for p in pairs for x in p)]
    cases = searches(pairs, {it.id: it.text() for it in items})
    original = {it.id: words_of(it.text()) for it in sub}

    embedder = load_embedder(settings.models.embedding)
    enrichments = make_enricher(settings, embedder).enrich(sub)
    accepted = {i: e for i, e in enrichments.items() if e.ok}
    query_vectors = embedder.encode([" ".join(q) for _, q in cases])

    client = make_client(settings.opensearch)
    url = settings.opensearch.url
    per: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    k = args.candidates
    for arm, enr in (("without", {}), ("with", accepted)):
        alias = f"bench-enrich-search-{arm}-{uuid.uuid4().hex[:8]}"
        index = ItemsIndex(client, alias, url)
        try:
            build_index(client, index, sub, embedder, enrichments=enr, keep_versions=1)
            runs = {
                "bm25": lambda q, v, a=alias: bm25_search(client, a, q, k, url),
                "knn": lambda q, v, a=alias: knn_search(client, a, v, k, url=url),
                "hybrid": lambda q, v, a=alias: hybrid_search(client, a, q, v, k, candidates=k, url=url),
            }
            for mode in MODES:
                orders = [
                    [h.id for h in runs[mode](" ".join(q), vec.tolist())]
                    for (_, q), vec in zip(cases, query_vectors, strict=True)
                ]
                per[(mode, arm)] = score(orders, cases, lambda i: original.get(i, set()))
        finally:
            for name in client.indices.get(index=f"{alias}-v*", ignore_unavailable=True, allow_no_indices=True):
                client.indices.delete(index=name, ignore_unavailable=True)  # the alias goes with its index

    result: dict = {
        "pairs": len(pairs),
        "searches": len(cases),
        "catalog_items": len(sub),
        "accepted_by_grounding": len(accepted),
        "llm": next(iter(enrichments.values())).model if enrichments else "",
        "candidates": args.candidates,
    }
    print(f"{len(cases)} searches over {len(sub)} items, {len(accepted)} of them with an accepted enrichment")
    header = ["mode".ljust(8), "MRR w/o".rjust(8), "MRR with".rjust(9), "ΔMRR [95% CI]".rjust(26)]
    print(" ".join([*header, "HR@10 w/o/with".rjust(16), "adh@10 w/o/with".rjust(17)]))
    for mode in MODES:
        a, b = per[(mode, "with")], per[(mode, "without")]
        diff = paired_bootstrap(a["rr"], b["rr"])
        row = {
            "mrr_without": round(float(b["rr"].mean()), 4),
            "mrr_with": round(float(a["rr"].mean()), 4),
            "mrr_diff": round(diff.diff, 4),
            "mrr_diff_ci": [round(diff.low, 4), round(diff.high, 4)],
            "hr@10_without": round(float(b["hit@10"].mean()), 4),
            "hr@10_with": round(float(a["hit@10"].mean()), 4),
            "adherence@10_without": round(float(b["adherence@10"].mean()), 4),
            "adherence@10_with": round(float(a["adherence@10"].mean()), 4),
        }
        result[mode] = row
        print(
            f"{mode:8} {row['mrr_without']:8.4f} {row['mrr_with']:9.4f} "
            f"{row['mrr_diff']:+8.4f} [{row['mrr_diff_ci'][0]:+.4f}, {row['mrr_diff_ci'][1]:+.4f}] "
            f"{row['hr@10_without']:7.3f}/{row['hr@10_with']:.3f} "
            f"{row['adherence@10_without']:8.3f}/{row['adherence@10_with']:.3f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
