"""How much the sequence model's own order should count beside the ranker's (``RECSEARCH_SEQUENCE_ORDER_WEIGHT``).

The ranker learns from whole baskets (what a user bought next time, given everything before); the sequence model
from the next event (what came right after, inside a basket too). Their orders of the same candidate pool are fused
by reciprocal rank (:func:`ranker.model.query_order.fused_scores`), as the scorer does for the service. For every
ranker with a sequence model, this sweep ranks the split's validation users (where the served weight is chosen:
they are not the test users) and its test users at each weight, already-bought items excluded and eligible, and
reports the primary metric of each. The pool and both models' scores are computed once per user; only the fusion
changes with the weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ranker.evaluation.splits import TestCase
from ranker.metrics import case_metrics
from ranker.model import fused_scores

#: The weights compared: 0 is the ranker's order alone; at 64 the sequence model's top ranks are never overturned.
WEIGHTS = (0.0, 1.0, 4.0, 16.0, 64.0)
MODES = ("excluded", "eligible")


def sequence_weight_sweep(
    rankers: Sequence,
    test: Sequence[TestCase],
    validation: Sequence[TestCase],
    primary: str,
    weights: Sequence[float] = WEIGHTS,
) -> list[dict]:
    """Per ranker that can fuse a sequence model's order (``orders_by_sequence``), its ``primary`` metric at each
    weight on ``validation`` and ``test`` in both modes, the weight it serves, and the best weight on validation.
    Nothing when the split has no validation users."""
    if not validation:
        return []
    k = int(primary.split("@")[1])
    out = []
    for ranker in rankers:
        if not getattr(ranker, "orders_by_sequence", lambda: False)():
            continue
        values: dict[str, dict[float, list[float]]] = {}
        for part, cases in (("validation", validation), ("test", test)):
            for mode in MODES:
                found = values[f"{part}/{mode}"] = {w: [] for w in weights}
                for case in _mode_cases(cases, mode):
                    ids, ranker_scores, sequence = ranker.two_orders(case, exclude_seen=(mode == "excluded"))
                    for w in weights:
                        fused = ranker_scores if sequence is None else fused_scores(ranker_scores, sequence, w)
                        top = [ids[i] for i in np.argsort(-fused, kind="stable")[:k]]
                        found[w].append(case_metrics(top, case.targets, (k,))[primary])
        rows = [{"weight": w, **{key: float(np.mean(v[w])) if v[w] else None for key, v in values.items()}}
                for w in weights]  # fmt: skip
        best = {mode: max(rows, key=lambda r, m=mode: r[f"validation/{m}"] or 0.0)["weight"] for mode in MODES}
        out.append({"name": ranker.name, "served": ranker.sequence_weight, "best_on_validation": best, "rows": rows})
    return out


def _mode_cases(cases: Sequence[TestCase], mode: str) -> list[TestCase]:
    if mode == "eligible":
        return list(cases)
    return [c for c in (x.without_history_targets() for x in cases) if c]
