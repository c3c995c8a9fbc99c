"""Do the explanations explain? For each sampled test user, the top 10 recommendations (as ``/v1/recommend``
serves them, already-bought items excluded) with the history items named as their explanation:

- ``distinct_first``: the share of the top 10 whose first-named history item differs from the others' (1.0: every
  result has its own reason; 0.1: one item names all ten);
- ``distinct_lists``: the share of distinct explanation lists among the top 10;
- ``first_weight``: the mean weight of the first-named item (near ``1/history`` when the weights are uniform);
- examples (titles) to read, for a blind check that the reasons make sense.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ranker.evaluation.catalog import IndexSnapshot
from ranker.evaluation.splits import TestCase

#: Users whose results are kept as readable examples.
EXAMPLES = 3


class Explains(Protocol):
    name: str

    def explained(self, case: TestCase, k: int) -> list[tuple[str, list[tuple[str, float]]]]:
        """The top ``k`` for the user (already-bought items excluded), each with its (history item, weight) list."""
        ...


def _title(catalog: IndexSnapshot, item: str) -> str:
    return catalog.text_of(item)[:60] if item in catalog else item


def explanation_stats(rankers: Sequence, cases: Sequence[TestCase], catalog: IndexSnapshot, k: int = 10) -> list[dict]:
    """The explanation measures of every ranker that explains its results (see the module doc)."""
    out = []
    for ranker in rankers:
        if not callable(getattr(ranker, "explained", None)):
            continue
        firsts, lists, weights, examples = [], [], [], []
        for case in cases:
            results = ranker.explained(case, k)
            named = [r for r in results if r[1]]
            if not named:
                continue
            firsts.append(len({r[1][0][0] for r in named}) / len(named))
            lists.append(len({tuple(i for i, _ in r[1]) for r in named}) / len(named))
            weights += [r[1][0][1] for r in named]
            if len(examples) < EXAMPLES:
                examples.append({"user": case.user_id, "results": [
                    {"item": _title(catalog, item), "because": [_title(catalog, h) for h, _ in why]}
                    for item, why in results[:5]
                ]})  # fmt: skip
        if firsts:
            out.append({"name": ranker.name, "users": len(firsts), "distinct_first": float(np.mean(firsts)),
                        "distinct_lists": float(np.mean(lists)), "first_weight": float(np.mean(weights)),
                        "examples": examples})  # fmt: skip
    return out
