"""Does enrichment help retrieval? Recall@K of the item a customer buys next, with and without enrichment.

For P sampled (customer, item A, next item B) pairs from Online Retail (B first bought in a later invoice than A),
the query is A's indexed text and the hit list is the K nearest of all ~3.9k catalog items (exact cosine over the
MiniLM vectors, A itself left out). Arms, in the same run and on the same pairs:

    without   every item embedded from its original text (title)
    with      the items of the sampled pairs enriched by the LLM (grounded; dropped ones keep their original text),
              their vectors and A's query from the enriched text; all other items unchanged

With ``--bm25`` the same pairs are also asked of the product's BM25 (OpenSearch, the items mapping and the BM25
query of ``recadmin search --mode bm25``): two throwaway indexes of the whole catalog, one without enrichment and one
with the sampled items' accepted enrichments (enriched description and attributes in their fields), the query A's
original text in both (a shopper types words, not a generated description); they are deleted afterwards. It needs
the node of ``RECSEARCH_OPENSEARCH_URL`` running (``recadmin opensearch start``).

Only the sampled items are enriched (enriching all 3.9k takes over an hour on 2 cores), so this measures whether an
enriched A finds its enriched B better. Enrichments are cached in the project store, so a rerun calls no LLM.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_enrich_recall.py [--quick] [--pairs P] [--bm25] [--json PATH]

Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5BW33
(CC BY 4.0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)

sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"


def repo_settings():
    """The environment's settings, with a relative state folder and the default SQLite store taken from the repository
    root (the demo's cache of enrichments), wherever the bench is run from."""
    from core.settings import Settings

    settings = Settings()
    if not settings.state_dir.is_absolute():
        settings.state_dir = ROOT / settings.state_dir
    if settings.store.url.startswith("sqlite:///.state"):
        settings.store.url = f"sqlite:///{ROOT / settings.store.url.removeprefix('sqlite:///')}"
    return settings


def next_item_pairs(n: int, seed: int, known: set[str]) -> list[tuple[str, str]]:
    """``n`` random (A, B) pairs: a customer bought B first in a later invoice than A's, one pair per customer."""
    import pandas as pd

    from core.online_retail import EVENT_COLUMNS, purchase_events

    f, _ = purchase_events(pd.read_parquet(DATA, columns=sorted(EVENT_COLUMNS)))
    f = f[f["item_id"].isin(known)]
    first = f.sort_values("ts").drop_duplicates(["user_id", "item_id"])
    rng = np.random.default_rng(seed)
    pairs = []
    for _, g in first.groupby(first["user_id"].astype("int64"), sort=True):  # customer order, as in the file
        invoices = g["session_id"].drop_duplicates().tolist()
        if len(invoices) < 2:
            continue
        i = int(rng.integers(0, len(invoices) - 1))
        a_items = g.loc[g["session_id"] == invoices[i], "item_id"].tolist()
        b_items = g.loc[g["session_id"] == invoices[i + 1], "item_id"].tolist()
        pairs.append((a_items[int(rng.integers(0, len(a_items)))], b_items[int(rng.integers(0, len(b_items)))]))
    chosen = rng.choice(len(pairs), size=min(n, len(pairs)), replace=False)
    return [pairs[i] for i in sorted(chosen)]


def recall(vectors: np.ndarray, index: dict[str, int], queries: np.ndarray, pairs, k: int) -> float:
    scores = queries @ vectors.T
    found = 0
    for row, (a, b) in enumerate(pairs):
        scores[row, index[a]] = -np.inf  # the query item itself is not a recommendation
        top = np.argpartition(-scores[row], k)[:k]
        found += index[b] in set(top.tolist())
    return found / len(pairs)


def bm25_recall(settings, items, vectors: np.ndarray, enrichments: dict, pairs, ks=(10, 50)) -> dict[str, float]:
    """Recall@k of B for A's original text as a BM25 query, over the catalog indexed without and with enrichment."""
    import uuid

    from core.opensearch.client import make_client
    from indexer.build import item_document
    from indexer.index import index_body
    from indexer.search import bm25_query

    client = make_client(settings.opensearch)
    by_id = {it.id: it for it in items}
    out: dict[str, float] = {}
    for arm, enr in (("without", {}), ("with", enrichments)):
        name = f"bench-enrich-bm25-{arm}-{uuid.uuid4().hex[:8]}"
        client.indices.create(index=name, body=index_body(vectors.shape[1], {"bench": "enrich_recall"}))
        try:
            docs = [item_document(it, vectors[n].tolist(), enr.get(it.id)) for n, it in enumerate(items)]
            for start in range(0, len(docs), 500):
                body = []
                for doc in docs[start : start + 500]:
                    body += [{"index": {"_index": name, "_id": doc["item_id"]}}, doc]
                client.bulk(body=body)
            client.indices.refresh(index=name)
            found = dict.fromkeys(ks, 0)
            for a, b in pairs:
                response = client.search(index=name, body=bm25_query(by_id[a].text(), max(ks) + 1))
                ids = [h["_source"]["item_id"] for h in response["hits"]["hits"] if h["_source"]["item_id"] != a]
                for k in ks:
                    found[k] += b in ids[:k]
            for k in ks:
                out[f"bm25_recall@{k}_{arm}"] = round(found[k] / len(pairs), 3)
        finally:
            client.indices.delete(index=name, ignore_unavailable=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 pairs")
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bm25", action="store_true", help="also BM25 in OpenSearch, without and with enrichment")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.pairs = 12

    from core.embedding import load_embedder
    from indexer.api import make_enricher
    from indexer.catalog import read_catalog
    from indexer.enrichment.enricher import enriched_text

    settings = repo_settings()
    items = read_catalog(DATA).items
    by_id = {it.id: it for it in items}
    index = {it.id: i for i, it in enumerate(items)}
    pairs = next_item_pairs(args.pairs, args.seed, set(by_id))
    embedder = load_embedder(settings.models.embedding)
    base = embedder.encode([it.text() for it in items])

    sampled = list(dict.fromkeys(x for p in pairs for x in p))
    enrichments = make_enricher(settings, embedder).enrich([by_id[i] for i in sampled])
    enriched = base.copy()
    ok = [i for i in sampled if enrichments[i].ok]
    if ok:
        enriched[[index[i] for i in ok]] = embedder.encode([enriched_text(by_id[i], enrichments[i]) for i in ok])

    result = {
        "pairs": len(pairs),
        "items_enriched": len(sampled),
        "accepted_by_grounding": len(ok),
        "llm": next(iter(enrichments.values())).model if enrichments else "",
        "catalog_items": len(items),
    }
    for k in (10, 50):
        q_base = base[[index[a] for a, _ in pairs]]
        q_enr = enriched[[index[a] for a, _ in pairs]]
        result[f"recall@{k}_without"] = round(recall(base, index, q_base, pairs, k), 3)
        result[f"recall@{k}_with"] = round(recall(enriched, index, q_enr, pairs, k), 3)
    if args.bm25:
        result.update(bm25_recall(settings, items, base, {i: enrichments[i] for i in ok}, pairs))
    print(json.dumps(result, indent=2))
    print(
        f"Recall@50 of the next-bought item: without enrichment {result['recall@50_without']:.3f}, "
        f"with {result['recall@50_with']:.3f} ({len(pairs)} pairs, {len(ok)}/{len(sampled)} items enriched)"
    )
    if args.bm25:
        print(
            f"BM25 Recall@50: without enrichment {result['bm25_recall@50_without']:.3f}, "
            f"with {result['bm25_recall@50_with']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
