"""The held-out check of a fine-tuned item space: k-NN on the mean of held-out customers' history vectors over the
whole catalog (what the k-NN baseline does), and held-out pairs' positives among their anchors' nearest items."""

from __future__ import annotations

import numpy as np

from ranker.finetune.data import HoldoutCase


def heldout_check(
    vectors: np.ndarray, items: list[str], cases: list[HoldoutCase], pairs: list[tuple[str, str]]
) -> dict[str, float]:
    """The item space as the k-NN baseline uses it, on held-out customers (see the module docstring).

    ``history_mean_*``: full ranking of the catalog by cosine with the mean history vector, history items
    eligible; ``*_excluded``: history items removed from the ranking and from the targets; ``pair_recall@10``:
    the held-out pair's positive among the 10 nearest catalog items of its anchor (the anchor itself left out).
    ``vectors`` are the unit-length vectors of ``items``, in that order."""
    from ranker.metrics import case_metrics

    position = {item: i for i, item in enumerate(items)}
    ids = np.asarray(items)
    rows: dict[str, list[float]] = {"ndcg": [], "recall": [], "ndcg_x": [], "recall_x": []}
    for case in cases:
        mean = vectors[[position[i] for i in case.history]].mean(axis=0)
        scores = vectors @ (mean / max(float(np.linalg.norm(mean)), 1e-12))
        m = case_metrics(list(ids[np.argsort(-scores)[:10]]), case.targets, (10,))
        rows["ndcg"].append(m["ndcg@10"])
        rows["recall"].append(m["recall@10"])
        new = set(case.targets) - set(case.history)
        if new:
            scores[[position[i] for i in case.history]] = -np.inf
            m = case_metrics(list(ids[np.argsort(-scores)[:10]]), new, (10,))
            rows["ndcg_x"].append(m["ndcg@10"])
            rows["recall_x"].append(m["recall@10"])
    out = {
        "history_mean_ndcg@10": float(np.mean(rows["ndcg"])) if cases else 0.0,
        "history_mean_recall@10": float(np.mean(rows["recall"])) if cases else 0.0,
        "history_mean_ndcg@10_excluded": float(np.mean(rows["ndcg_x"])) if rows["ndcg_x"] else 0.0,
        "history_mean_recall@10_excluded": float(np.mean(rows["recall_x"])) if rows["recall_x"] else 0.0,
    }
    if pairs:
        a = vectors[[position[x] for x, _ in pairs]]
        sims = a @ vectors.T
        sims[np.arange(len(pairs)), [position[x] for x, _ in pairs]] = -np.inf
        top = np.argpartition(-sims, 10, axis=1)[:, :10] if len(items) > 11 else np.argsort(-sims, axis=1)[:, :10]
        out["pair_recall@10"] = float(np.mean([position[y] in top[k] for k, (_, y) in enumerate(pairs)]))
    return out


def describe_validation(v: dict) -> str:
    """One line of held-out numbers, base -> fine-tuned (older versions recorded a pair accuracy only)."""
    if "pair_accuracy_before" in v:
        return f"pair accuracy {v['pair_accuracy_before']:.3f} -> {v['pair_accuracy_after']:.3f}"
    names = ("history_mean_ndcg@10", "history_mean_ndcg@10_excluded", "history_mean_recall@10", "pair_recall@10")
    return (
        ", ".join(
            f"{n.removeprefix('history_mean_')} {v[n + '_before']:.4f} -> {v[n + '_after']:.4f}"
            for n in names
            if n + "_before" in v
        )
        + f" ({v.get('holdout_users', 0)} customers, {v.get('pairs', 0)} pairs)"
    )
