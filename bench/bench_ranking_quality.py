"""Ranking quality on Online Retail: the attention reranker's NDCG@10 as a ratio of the best baseline's, measured
in the same run on the same test users (time split, full ranking, already-bought items eligible and excluded),
and, with ``--finetuned-index``, k-NN on fine-tuned vectors as a ratio of k-NN on base vectors.

    .venv/bin/python bench/bench_ranking_quality.py [--quick] [--index ALIAS] [--finetuned-index ALIAS] [--json F]

Needs an index of the Online Retail catalog behind ``--index`` (default: RECSEARCH_OPENSEARCH_INDEX_ALIAS).
Goal (issue 6): ratio >= 1.10 with the 95% bootstrap interval of the difference above zero.
Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5BW33
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root (bench/ is run as a script)

sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="150 users, a small ranker training run")
    parser.add_argument("--index", default=None)
    parser.add_argument("--finetuned-index", default=None)
    parser.add_argument("--events", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from core.settings import Settings
    from ranker.evaluation import EvaluateRequest, evaluate
    from ranker.evaluation.attention import attention_factory

    settings = Settings()
    quick = {"max_users": 150, "ranker_epochs": 1, "ranker_train_examples": 10000, "bootstrap_samples": 300}
    full = {"max_users": 500}
    settings = settings.model_copy(
        update={"evaluation": settings.evaluation.model_copy(update=quick if args.quick else full)}
    )
    indexes = {"base": args.index or settings.opensearch.index_alias}
    if args.finetuned_index:
        indexes["finetuned"] = args.finetuned_index
    request = EvaluateRequest(events=args.events, indexes=indexes, splits=("time",), name="bench-ranking-quality",
                              reports_dir=ROOT / "reports")  # fmt: skip
    done = evaluate(settings, request, extra_rankers=attention_factory(settings))
    out = {}
    for run in done.result["runs"]:
        if run["protocol"] != "full":
            continue
        rows = {r["name"]: r for r in run["rows"]}
        best = rows[run["best_baseline"]]["metrics"]["ndcg@10"]
        att = rows["attention[base]"]
        ci = att["vs_best_baseline"]["ndcg@10"]
        key = f"time/{run['mode']}"
        out[key] = {
            "users": run["cases"], "best_baseline": run["best_baseline"], "best_baseline_ndcg@10": best,
            "attention_ndcg@10": att["metrics"]["ndcg@10"], "ratio": att["metrics"]["ndcg@10"] / best if best else None,
            "diff_ci95": [ci["low"], ci["high"]],
        }  # fmt: skip
        print(f"{key}: {run['cases']} users; attention NDCG@10 {att['metrics']['ndcg@10']:.4f} vs best baseline "
              f"{run['best_baseline']} {best:.4f}: ratio {out[key]['ratio']:.3f} (goal >= 1.10), "
              f"difference 95% CI [{ci['low']:+.4f}, {ci['high']:+.4f}]")  # fmt: skip
        if "knn-history-mean[finetuned]" in rows:
            base_knn = rows["knn-history-mean[base]"]["metrics"]["ndcg@10"]
            ft_knn = rows["knn-history-mean[finetuned]"]["metrics"]["ndcg@10"]
            out[key]["knn_finetuned_over_base"] = ft_knn / base_knn if base_knn else None
            print(f"{key}: k-NN NDCG@10 fine-tuned {ft_knn:.4f} vs base {base_knn:.4f}: ratio "
                  f"{out[key]['knn_finetuned_over_base']:.3f} (goal > 1)")  # fmt: skip
    print(f"report: {done.html_path}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
