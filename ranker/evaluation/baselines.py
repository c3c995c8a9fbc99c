"""The baselines every ranker is measured against, fitted on the same training events in the same run.

* :class:`MostPopular` — the catalog ordered by how often it was bought in the training events;
* :class:`RecentlyPopular` — the same over the last 14 days of the training events (what sells now);
* :class:`RepeatThenPopular` — the user's own items first, then the best sellers (overall or recent ones);
* :class:`BoughtTogether` — item-to-item: items bought in the same basket as the user's history items;
* :class:`HistoryKnn` — k-NN from the real index on the mean of the user's history vectors;
* :class:`Bm25LastItem` — BM25 from the real index on the text of the user's last item.

Each implements :class:`Recommender`: ``recommend`` ranks the catalog's items that may be recommended (top ``k``;
postage and fees are never recommended, so no baseline scores with them: :attr:`IndexSnapshot.recommendable`),
``score`` scores given items (for the sampled-negatives protocol).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from ranker.evaluation.catalog import IndexSnapshot, ItemSearch
from ranker.evaluation.splits import TestCase
from ranker.model import TREND_DAYS


class Recommender(Protocol):
    """A ranker under evaluation; ``kind`` is ``baseline`` or ``model``."""

    name: str
    kind: str

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        """Learn from the training events of a split (events before the test period only). ``validation``: the
        split's held-out cases, when it has them (their targets are not in ``train``), e.g. to stop training early;
        the runner passes it only then and only to a ``fit`` that has the parameter, so a ranker that needs none may
        leave it out."""

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        """The top ``k`` catalog items for each case; without already-bought items when ``exclude_seen``."""

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        """A score per item in ``items`` for this case (higher is better)."""


def top_items(scores: np.ndarray, catalog: IndexSnapshot, k: int, skip: frozenset[str]) -> list[str]:
    """The ``k`` best-scored recommendable catalog items (scores by catalog position) without ``skip``; non-finite
    scores never."""
    scores = np.where(catalog.recommendable, scores, -np.inf)
    for item in skip:
        pos = catalog.position.get(item)
        if pos is not None:
            scores[pos] = -np.inf
    top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [catalog.ids[i] for i in top if np.isfinite(scores[i])]


class MostPopular:
    """Every user gets the best sellers of the training period."""

    kind = "baseline"

    def __init__(self, catalog: IndexSnapshot, name: str = "most-popular"):
        self.catalog, self.name = catalog, name
        self.counts = np.zeros(len(catalog), dtype=np.float64)

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        counts = train["item_id"].value_counts()
        self.counts = np.array([counts.get(i, 0) for i in self.catalog.ids], dtype=np.float64)

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        return [top_items(self.counts, self.catalog, k, c.seen if exclude_seen else frozenset()) for c in cases]

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        return np.array([self.counts[self.catalog.position[i]] for i in items])


class RecentlyPopular(MostPopular):
    """The best sellers of the training period's last ``days`` (seasonal items, new arrivals): the time-aware
    popularity baseline, as the ranker has a feature of the same kind (``trend``)."""

    def __init__(self, catalog: IndexSnapshot, name: str = "recently-popular", days: float = TREND_DAYS):
        super().__init__(catalog, name)
        self.days = days

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        super().fit(train[train["ts"] >= train["ts"].max() - pd.Timedelta(days=self.days)])


class RepeatThenPopular:
    """The user's own items first (most often bought, then most recent), then the best sellers: the baseline
    to beat when already-bought items are eligible (with them excluded it is :class:`MostPopular`)."""

    kind = "baseline"

    def __init__(self, catalog: IndexSnapshot, name: str = "repeat-then-popular", popular: MostPopular | None = None):
        self.catalog, self.name = catalog, name
        self.popular = popular or MostPopular(catalog)

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        self.popular.fit(train)

    def _scores(self, case: TestCase) -> np.ndarray:
        # Popularity is in [0, 1]; each own purchase adds 1, so any own item outranks any other, the most
        # often bought first; the newest purchase of an item adds up to 0.5 so recent items win ties.
        scores = self.popular.counts / max(float(self.popular.counts.max()), 1.0)
        seen: set[int] = set()
        for age, item in enumerate(reversed(case.history)):
            pos = self.catalog.position.get(item)
            if pos is not None:
                scores[pos] += 1.0 + (0.5 / (1 + age) if pos not in seen else 0.0)
                seen.add(pos)
        return scores

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        return [top_items(self._scores(c), self.catalog, k, c.seen if exclude_seen else frozenset()) for c in cases]

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        scores = self._scores(case)
        return np.array([scores[self.catalog.position[i]] for i in items])


class BoughtTogether:
    """Item-to-item: score(j) = sum over the user's distinct history items i of the number of training baskets
    holding both i and j; popularity breaks ties so every list is full."""

    kind = "baseline"

    def __init__(self, catalog: IndexSnapshot, name: str = "co-occurrence", recent_items: int = 50):
        self.catalog, self.name, self.recent_items = catalog, name, recent_items
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.popularity = np.zeros(len(catalog))

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        from scipy import sparse

        known = train[train["item_id"].isin(self.catalog.position)]
        baskets = known.groupby(["user_id", "ts"], sort=False).ngroup().to_numpy()
        items = known["item_id"].map(self.catalog.position).to_numpy()
        b = sparse.csr_matrix(
            (np.ones(len(items), dtype=np.float32), (baskets, items)),
            shape=(int(baskets.max()) + 1 if len(baskets) else 0, len(self.catalog)),
        )
        b.data[:] = 1.0  # an item bought twice in one basket counts once
        co = (b.T @ b).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        self.matrix = co
        counts = np.asarray(b.sum(axis=0)).ravel()
        self.popularity = counts / max(counts.max(), 1.0)

    def _scores(self, case: TestCase) -> np.ndarray:
        recent = list(dict.fromkeys(reversed(case.history)))[: self.recent_items]
        rows = [self.catalog.position[i] for i in recent if i in self.catalog.position]
        scores = np.asarray(self.matrix[rows].sum(axis=0)).ravel() if rows else np.zeros(len(self.catalog))
        return scores + 1e-3 * self.popularity

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        return [top_items(self._scores(c), self.catalog, k, c.seen if exclude_seen else frozenset()) for c in cases]

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        scores = self._scores(case)
        return np.array([scores[self.catalog.position[i]] for i in items])


def history_mean(catalog: IndexSnapshot, case: TestCase) -> np.ndarray | None:
    """The unit-length mean of the vectors of the user's distinct history items (None when none is known)."""
    vectors = catalog.vectors_of(list(dict.fromkeys(case.history)))
    if not len(vectors):
        return None
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def _search_per_case(cases: Sequence[TestCase], queries: list, run, exclude_seen: bool) -> list[list[str]]:
    """One batched index search for the cases that have a query (None: no query, empty list): ``run(queries,
    skip)`` returns the ranked (item, score) lists, ``skip`` each case's already-bought items when excluded."""
    out: list[list[str]] = [[] for _ in cases]
    asked = [i for i, q in enumerate(queries) if q is not None]
    if asked:
        skip = [sorted(cases[i].seen) if exclude_seen else [] for i in asked]
        for i, ranked in zip(asked, run([queries[i] for i in asked], skip), strict=True):
            out[i] = [item for item, _ in ranked]
    return out


class HistoryKnn:
    """k-NN search of the real index with the mean of the user's history vectors as the query."""

    kind = "baseline"

    def __init__(self, catalog: IndexSnapshot, search: ItemSearch, name: str = "knn-history-mean"):
        self.catalog, self.search, self.name = catalog, search, name

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        """Nothing to learn: the item vectors come from the index."""

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        queries = [history_mean(self.catalog, c) for c in cases]
        return _search_per_case(cases, queries, lambda q, skip: self.search.knn(np.stack(q), k, skip), exclude_seen)

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        mean = history_mean(self.catalog, case)
        if mean is None:
            return np.zeros(len(items))
        return self.catalog.vectors_of(items) @ mean


def last_known_item(catalog: IndexSnapshot, case: TestCase) -> str | None:
    """The most recent history item that is in the catalog."""
    return next((i for i in reversed(case.history) if i in catalog), None)


class Bm25LastItem:
    """BM25 search of the real index with the text of the user's last item as the query."""

    kind = "baseline"

    def __init__(self, catalog: IndexSnapshot, search: ItemSearch, name: str = "bm25-last-item"):
        self.catalog, self.search, self.name = catalog, search, name

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        """Nothing to learn: BM25 statistics live in the index."""

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        def run(items: list[str], skip: list[list[str]]):
            return self.search.bm25([self.catalog.text_of(i) for i in items], k, skip)

        return _search_per_case(cases, [last_known_item(self.catalog, c) for c in cases], run, exclude_seen)

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        last = last_known_item(self.catalog, case)
        if last is None:
            return np.zeros(len(items))
        found = self.search.bm25_scores(self.catalog.text_of(last), items)
        return np.array([found.get(i, 0.0) for i in items])
