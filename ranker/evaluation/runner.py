"""One evaluation run: split the events, fit every ranker on the training part (with the split's validation cases
when it has them), rank for every test case under both protocols (full ranking; sampled negatives), with
already-bought items eligible and excluded, and compare each ranker with the best baseline by paired bootstrap.
Full-ranking runs also break the primary metric down by user activity (``by_activity``) and report how many cold
targets (items without a training event) each ranker finds (``by_item_history``).

The result is a plain dict (written as JSON, rendered as a table and an HTML report)."""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ranker.evaluation.baselines import Recommender
from ranker.evaluation.bootstrap import paired_bootstrap
from ranker.evaluation.catalog import IndexSnapshot
from ranker.evaluation.explain import explanation_stats
from ranker.evaluation.search import SearchProtocol
from ranker.evaluation.sequence_weight import sequence_weight_sweep
from ranker.evaluation.splits import Split, TestCase, last_item, leave_last_out, sample_cases, time_split
from ranker.metrics import case_metrics, coverage, means, rank_of_first, sampled_metrics, stack

MODES = ("eligible", "excluded")
#: The splits :func:`make_split` knows.
SPLITS = ("time", "leave-last-out", "last-item")
#: Users are grouped by the number of distinct items in their history; 1-2 is the cold-start group.
ACTIVITY_EDGES = (1, 3, 5, 20, 50, 100)

#: Test users whose top 10 explanations are measured (:mod:`ranker.evaluation.explain`).
EXPLAINED_USERS = 200

#: Called with a message as the run goes (the CLI shows it).
Report = Callable[[str], None]


@dataclass
class EvalConfig:
    """What one run does; defaults come from ``RECSEARCH_EVAL_*``."""

    ks: tuple[int, ...] = (5, 10, 20, 50)
    cutoff: str | None = None
    horizon_days: float = 30.0
    max_users: int = 1000
    seed: int = 13
    sampled_negatives: int = 100
    bootstrap_samples: int = 1000
    splits: tuple[str, ...] = ("time", "leave-last-out")
    #: last-item split: users with fewer interactions are not test users.
    min_interactions: int = 5
    ci_metrics: tuple[str, ...] = ("ndcg@10", "recall@10", "hr@10", "mrr@10")
    primary: str = "ndcg@10"
    notes: dict = field(default_factory=dict)


def make_split(name: str, events: pd.DataFrame, catalog: IndexSnapshot, config: EvalConfig) -> Split:
    """The split called ``name``, one of :data:`SPLITS`. Targets only among the items that may be recommended: the
    evaluation measures what is served."""
    if name == "time":
        return time_split(events, config.cutoff, config.horizon_days, catalog.position, catalog.recommendable_ids)
    if name == "leave-last-out":
        return leave_last_out(events, catalog.position, catalog.recommendable_ids)
    if name == "last-item":
        return last_item(events, catalog.position, config.min_interactions, catalog.recommendable_ids)
    raise ValueError(f"unknown split '{name}' (use one of {', '.join(SPLITS)})")


def activity_bucket(case: TestCase) -> str:
    """The label of the activity group of a case, e.g. ``5-19`` distinct history items."""
    n = len(case.seen)
    for low, high in itertools.pairwise(ACTIVITY_EDGES):
        if low <= n < high:
            return f"{low}-{high - 1}"
    return f"{ACTIVITY_EDGES[-1]}+"


def sampled_negatives(cases: Sequence[TestCase], catalog: IndexSnapshot, n: int, seed: int) -> list[list[str]]:
    """For each case: its first target followed by ``n`` items drawn uniformly from the catalog items that may be
    recommended and that the user neither bought before nor in the test period. The same lists are used for every
    ranker (paired)."""
    rng = np.random.default_rng(seed)
    pool = [item for item, ok in zip(catalog.ids, catalog.recommendable, strict=True) if ok]
    out = []
    for case in cases:
        banned = case.seen | set(case.targets)
        negatives: list[str] = []
        while len(negatives) < min(n, len(pool) - len(banned & catalog.recommendable_ids)):
            for i in rng.integers(0, len(pool), size=2 * n):
                item = pool[i]
                if item not in banned and item not in negatives:
                    negatives.append(item)
                    if len(negatives) == n:
                        break
        out.append([case.targets[0], *negatives])
    return out


def _compare(rows: list[dict], per_case: dict[str, dict], config: EvalConfig, seed: int) -> str | None:
    """Mark the best baseline (by the primary metric) and add each other row's bootstrap difference to it."""
    baselines = [r for r in rows if r["kind"] == "baseline" and config.primary in r["metrics"]]
    if not baselines:
        return None
    best = max(baselines, key=lambda r: r["metrics"][config.primary])["name"]
    for row in rows:
        if row["name"] == best:
            continue
        row["vs_best_baseline"] = {
            metric: paired_bootstrap(
                per_case[row["name"]][metric], per_case[best][metric], config.bootstrap_samples, seed=seed
            ).as_dict()
            for metric in config.ci_metrics
            if metric in per_case[row["name"]]
        }
    return best


def _compare_peers(rows: list[dict], per_case: dict[str, dict], peers: Sequence[str], config: EvalConfig) -> None:
    """Add to each model row its bootstrap difference (primary metric) with each peer, whichever baseline is best."""
    for row in rows:
        if row["kind"] != "model":
            continue
        row["vs_peers"] = {
            peer: paired_bootstrap(per_case[row["name"]][config.primary], per_case[peer][config.primary],
                                   config.bootstrap_samples, seed=config.seed).as_dict()
            for peer in peers
            if peer in per_case and config.primary in per_case[row["name"]]
        }  # fmt: skip


def _by_activity(cases: Sequence[TestCase], per_case: dict[str, dict], metric: str) -> dict:
    labels = [activity_bucket(c) for c in cases]
    groups = sorted(set(labels), key=lambda s: int(s.rstrip("+").split("-")[0]))
    out = {}
    for g in groups:
        idx = [i for i, label in enumerate(labels) if label == g]
        out[g] = {"cases": len(idx), **{name: float(cols[metric][idx].mean()) for name, cols in per_case.items()}}
    return out


def _by_item_history(cases: Sequence[TestCase], lists: dict[str, list[list[str]]], trained: set[str], k: int) -> dict:
    """Targets split into cold items (no event in the training data) and warm ones: how many there are and, per
    ranker, the share of them found in its top ``k`` (recall@k over those targets)."""
    out = {}
    for group, is_cold in (("cold", True), ("warm", False)):
        targets = [(i, t) for i, c in enumerate(cases) for t in c.targets if (t not in trained) == is_cold]
        row: dict = {"targets": len(targets)}
        for name, ranked in lists.items():
            tops = [set(r[:k]) for r in ranked]
            row[name] = sum(t in tops[i] for i, t in targets) / len(targets) if targets else None
        out[group] = row
    return out


def fit_ranker(ranker: Recommender, split: Split) -> None:
    """Fit ``ranker`` on the split's training events, with its validation cases when the split has them and its
    ``fit`` takes them (a ranker written before validation cases existed keeps working on every split)."""
    try:
        takes_validation = "validation" in inspect.signature(ranker.fit).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): call it the old way
        takes_validation = False
    if split.validation and takes_validation:
        ranker.fit(split.train, validation=split.validation)
    else:
        ranker.fit(split.train)


def evaluate_split(
    split: Split, catalog: IndexSnapshot, recommenders: Sequence[Recommender], config: EvalConfig, report: Report
) -> list[dict]:
    """Fit every ranker on the split's training events and measure it in each mode and protocol."""
    cases = sample_cases(split.cases, config.max_users, config.seed)
    timings: dict[str, dict] = {}
    for r in recommenders:
        report(f"{split.name}: fitting {r.name} on {len(split.train):,} events")
        start = time.perf_counter()
        fit_ranker(r, split)
        timings[r.name] = {"seconds": time.perf_counter() - start, **(getattr(r, "fit_info", None) or {})}
    runs = []
    k_max = max(config.ks)
    k_primary = int(config.primary.split("@")[1])
    trained = set(split.train["item_id"])
    for mode in MODES:
        mode_cases = cases if mode == "eligible" else [c for c in (x.without_history_targets() for x in cases) if c]
        common = {
            "split": split.name,
            "mode": mode,
            "cases": len(mode_cases),
            "targets": sum(len(c.targets) for c in mode_cases),
            "repeat_targets": sum(c.repeat_targets for c in mode_cases),
        }
        full: dict[str, dict] = {}
        sampled: dict[str, dict] = {}
        full_rows, sampled_rows = [], []
        top_lists: dict[str, list[list[str]]] = {}
        lists_for_sampling = sampled_negatives(mode_cases, catalog, config.sampled_negatives, config.seed)
        for r in recommenders:
            report(f"{split.name}/{mode}: ranking {len(mode_cases)} users with {r.name}")
            start = time.perf_counter()
            lists = top_lists[r.name] = r.recommend(mode_cases, k_max, exclude_seen=(mode == "excluded"))
            full[r.name] = stack(
                [case_metrics(ranked, c.targets, config.ks) for ranked, c in zip(lists, mode_cases, strict=True)]
            )
            row_metrics = means(full[r.name])
            shown = len(catalog.recommendable_ids)  # coverage of what may be recommended
            row_metrics.update({f"coverage@{k}": coverage(lists, k, shown) for k in config.ks})
            elapsed = time.perf_counter() - start
            full_rows.append({"name": r.name, "kind": r.kind, "metrics": row_metrics, "seconds": elapsed})
            start = time.perf_counter()
            ranks = [rank_of_first(np.asarray(r.score(c, items), dtype=np.float64))
                     for c, items in zip(mode_cases, lists_for_sampling, strict=True)]  # fmt: skip
            sampled[r.name] = stack([sampled_metrics(rank, config.ks) for rank in ranks])
            sampled_rows.append(
                {"name": r.name, "kind": r.kind, "metrics": means(sampled[r.name]),
                 "seconds": time.perf_counter() - start}
            )  # fmt: skip
        if not mode_cases:
            continue
        best_full = _compare(full_rows, full, config, config.seed)
        _compare_peers(full_rows, full, [r.name for r in recommenders if getattr(r, "is_peer", False)], config)
        best_sampled = _compare(sampled_rows, sampled, config, config.seed)
        runs.append({**common, "protocol": "full", "best_baseline": best_full, "rows": full_rows,
                     "by_activity": _by_activity(mode_cases, full, config.primary),
                     "by_item_history": _by_item_history(mode_cases, top_lists, trained, k_primary)})  # fmt: skip
        runs.append({**common, "protocol": "sampled", "negatives": config.sampled_negatives,
                     "best_baseline": best_sampled, "rows": sampled_rows})  # fmt: skip
    for run in runs:
        run["fit"] = timings
    return runs


def run_evaluation(
    events: pd.DataFrame,
    catalog: IndexSnapshot,
    recommenders: Sequence[Recommender],
    config: EvalConfig,
    report: Report | None = None,
    search: SearchProtocol | None = None,
) -> dict:
    """Evaluate ``recommenders`` on every split named in the config; the result is JSON-ready. ``search``: the
    personalized-search protocol too (:mod:`ranker.evaluation.search`), for the rankers that can order a query's
    hits."""
    report = report or (lambda message: None)
    started = time.perf_counter()
    names = [r.name for r in recommenders]
    if len(set(names)) != len(names):
        raise ValueError(f"ranker names must be unique: {names}")
    result: dict = {
        "config": asdict(config),
        "catalog": {"items": len(catalog), "recommendable": len(catalog.recommendable_ids), "index_meta": catalog.meta},
        "events": {
            "events": len(events),
            "users": int(events["user_id"].nunique()),
            "items": int(events["item_id"].nunique()),
            "first": str(events["ts"].min()),
            "last": str(events["ts"].max()),
            "in_catalog": int(events["item_id"].isin(catalog.position).sum()),
        },
        "rankers": [{"name": r.name, "kind": r.kind} for r in recommenders],
        "splits": [],
        "runs": [],
    }
    for name in config.splits:
        split = make_split(name, events, catalog, config)
        sampled_users = min(len(split.cases), config.max_users or len(split.cases))
        result["splits"].append(
            {"name": name, "cutoff": str(split.cutoff) if split.cutoff is not None else None,
             "train_events": len(split.train), "test_users": len(split.cases), "evaluated_users": sampled_users,
             "validation_users": len(split.validation), **split.stats}
        )  # fmt: skip
        result["runs"] += evaluate_split(split, catalog, recommenders, config, report)
        # The rankers are still fitted on this split's training events.
        explained = explanation_stats(recommenders, sample_cases(split.cases, EXPLAINED_USERS, config.seed), catalog)
        if explained:
            result.setdefault("explanations", []).append({"split": split.name, "rows": explained})
        if split.validation:
            report(f"{split.name}: the sequence model's order weighed on validation and test users")
        swept = sequence_weight_sweep(
            recommenders,
            sample_cases(split.cases, config.max_users, config.seed),
            sample_cases(split.validation, config.max_users, config.seed),
            config.primary,
        )
        if swept:
            result.setdefault("sequence_weight", []).append({"split": split.name, "rows": swept})
        if search is not None:
            report(f"{split.name}: personalized search")
            test = sample_cases(split.cases, config.max_users, config.seed)
            validation = sample_cases(split.validation, config.max_users, config.seed)
            found = search.run(recommenders, test, validation, config.bootstrap_samples, config.seed)
            if found is not None:
                result.setdefault("search", []).append({"split": split.name, **found})
    result["seconds"] = time.perf_counter() - started
    return result
