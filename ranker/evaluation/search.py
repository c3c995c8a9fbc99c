"""Personalized search, measured: does the user's order keep to the query, and does it find what they bought?

For each test user, the first item they bought that they had not bought before becomes a query: the item's title
words that are most common in the catalog (``words`` of them, function words aside), so the query is short, matches
many items as a shopper's query does ("bag red", "holder light"), and names the item without singling it out. The
query goes to the index as ``/v1/search`` sends it (hybrid: BM25 and k-NN fused; or k-NN), the service's number of
candidates. The anonymous answer is that order; the personalized answer is the model's order of the same hits fused
with the query's (:func:`ranker.model.query_order.fused_order`), at the served weight
(``RECSEARCH_SERVICE_SEARCH_PERSONAL_WEIGHT``) and at a sweep of weights.

- **Query adherence@10**: the share of the top 10 whose text holds every query word; reported as personalized /
  anonymous (1.0: the user's order keeps to the query as well as the anonymous one).
- **MRR of the bought item** among the hits (0 when the query did not retrieve it), personalized against anonymous,
  with the paired bootstrap interval of the difference.

The weights are compared on the split's validation users where it has them (the served weight is chosen there)
and reported on its test users.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.search import Hit, rrf_fuse
from ranker.evaluation.bootstrap import paired_bootstrap
from ranker.evaluation.catalog import IndexSnapshot, ItemSearch
from ranker.evaluation.splits import TestCase
from ranker.model import fused_order

#: Words that never make a query on their own (English function words).
FUNCTION_WORDS = frozenset(
    ["a", "an", "and", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to", "with"]
)
#: The weights of the sweep (0: the anonymous order); ``inf`` stands for the user's order alone.
WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0, float("inf"))
TOP = 10

_WORD = re.compile(r"[^\W\d_]{2,}")


def words_of(text: str) -> set[str]:
    """The lower-cased words (letters only, two or more) of ``text``."""
    return set(_WORD.findall(text.lower()))


class QueryBuilder:
    """Queries from item texts: the ``words`` words of an item that most catalog items hold."""

    def __init__(self, catalog: IndexSnapshot, words: int = 2):
        self.catalog, self.words = catalog, words
        self.item_words = [words_of(t) - FUNCTION_WORDS for t in catalog.texts]
        self.frequency = Counter(w for ws in self.item_words for w in ws)

    def query(self, item: str) -> tuple[str, ...] | None:
        """The query words for ``item`` (most common first; None when its text has no word)."""
        row = self.catalog.position.get(item)
        if row is None or not self.item_words[row]:
            return None
        ranked = sorted(self.item_words[row], key=lambda w: (-self.frequency[w], w))
        return tuple(ranked[: self.words])

    def matches(self, item: str, words: Sequence[str]) -> bool:
        """Whether ``item``'s text holds every one of ``words``."""
        row = self.catalog.position.get(item)
        return row is not None and set(words) <= self.item_words[row]


@dataclass(frozen=True)
class SearchCase:
    """One user's search: their history (the test case), the query built from what they bought, and that item."""

    case: TestCase
    target: str
    words: tuple[str, ...]

    @property
    def query(self) -> str:
        return " ".join(self.words)


def search_cases(cases: Sequence[TestCase], builder: QueryBuilder) -> list[SearchCase]:
    """A search per case whose targets hold a new item (not bought before) with a query."""
    out = []
    for case in cases:
        seen = case.seen
        for target in case.targets:
            words = builder.query(target) if target not in seen else None
            if words:
                out.append(SearchCase(case, target, words))
                break
    return out


#: The query texts' vectors (the index's embedding model).
EmbedQueries = Callable[[list[str]], np.ndarray]


class QueryRetrieval:
    """The hits of queries as ``/v1/search`` gets them: hybrid (BM25 and k-NN, ``size`` each, fused) or k-NN."""

    def __init__(self, search: ItemSearch, embed: EmbedQueries, size: int, mode: str = "hybrid"):
        self.search, self.embed, self.size, self.mode = search, embed, size, mode

    def hits(self, queries: list[str]) -> list[list[tuple[str, float]]]:
        none = [[] for _ in queries]
        knn = self.search.knn(self.embed(queries), self.size, none)
        if self.mode != "hybrid":
            return knn
        bm25 = self.search.bm25(queries, self.size, none)
        fused = []
        for a, b in zip(bm25, knn, strict=True):
            rankings = [[Hit(i, s, "") for i, s in ranking] for ranking in (a, b)]
            fused.append([(h.id, h.score) for h in rrf_fuse(rankings, self.size)])
        return fused


class PersonalOrder:
    """What a ranker gives the protocol: its order of a query's hits for the user of a test case."""

    name: str

    def personal_order(self, case: TestCase, hits: Sequence[tuple[str, float]]) -> list[str]: ...


def _rr(order: Sequence[str], target: str) -> float:
    try:
        return 1.0 / (list(order).index(target) + 1)
    except ValueError:
        return 0.0


def _adherence(order: Sequence[str], words: Sequence[str], builder: QueryBuilder, top_n: int) -> float:
    top = list(order)[:top_n]
    return sum(builder.matches(i, words) for i in top) / len(top) if top else 0.0


def _weight_name(weight: float) -> str:
    return "user order" if weight == float("inf") else f"{weight:g}"


def _measure(
    searches: Sequence[SearchCase],
    hits: Sequence[Sequence[tuple[str, float]]],
    orders: Sequence[list[str]],
    weights: Sequence[float],
    builder: QueryBuilder,
    samples: int,
    seed: int,
    top: int = TOP,
) -> dict:
    """Adherence (over the first ``top``) and MRR of the anonymous order and of the fused order at each weight."""
    query_orders = [[i for i, _ in h] for h in hits]
    anon_rr = np.array([_rr(q, s.target) for q, s in zip(query_orders, searches, strict=True)])
    anon_adh = np.array([_adherence(q, s.words, builder, top) for q, s in zip(query_orders, searches, strict=True)])
    rows = []
    for weight in weights:
        fused = [
            personal if weight == float("inf") else [i for i, _ in fused_order(personal, query, weight)]
            for personal, query in zip(orders, query_orders, strict=True)
        ]
        rr = np.array([_rr(f, s.target) for f, s in zip(fused, searches, strict=True)])
        adh = np.array([_adherence(f, s.words, builder, top) for f, s in zip(fused, searches, strict=True)])
        diff = paired_bootstrap(rr, anon_rr, samples=samples, seed=seed)
        rows.append({
            "weight": _weight_name(weight),
            "mrr": float(rr.mean()),
            "mrr_ratio": float(rr.mean() / anon_rr.mean()) if anon_rr.mean() > 0 else None,
            "mrr_diff": diff.as_dict(),
            "adherence@10": float(adh.mean()),
            "adherence_ratio": float(adh.mean() / anon_adh.mean()) if anon_adh.mean() > 0 else None,
        })  # fmt: skip
    return {
        "searches": len(searches),
        "retrieved": int((anon_rr > 0).sum()),
        "anonymous": {"mrr": float(anon_rr.mean()), "adherence@10": float(anon_adh.mean())},
        "weights": rows,
    }


def evaluate_search(
    rankers: Sequence[PersonalOrder],
    test: Sequence[TestCase],
    validation: Sequence[TestCase],
    builder: QueryBuilder,
    retrieval: QueryRetrieval,
    served_weight: float,
    samples: int = 1000,
    seed: int = 13,
    top: int = TOP,
) -> dict:
    """The search protocol for each ranker: on the validation cases (the sweep the served weight is chosen from)
    and on the test cases."""
    weights = sorted({served_weight, *WEIGHTS})
    out: dict = {"protocol": "search", "served_weight": served_weight, "words": builder.words, "rows": []}
    parts = {"test": search_cases(test, builder), "validation": search_cases(validation, builder)}
    hits = {part: retrieval.hits([s.query for s in searches]) if searches else [] for part, searches in parts.items()}
    out["examples"] = [{"user": s.case.user_id, "query": s.query, "bought": s.target} for s in parts["test"][:5]]
    for ranker in rankers:
        row: dict = {"name": ranker.name}
        for part, searches in parts.items():
            if not searches:
                continue
            orders = [ranker.personal_order(s.case, h) for s, h in zip(searches, hits[part], strict=True)]
            row[part] = _measure(searches, hits[part], orders, weights, builder, samples, seed, top)
        out["rows"].append(row)
    return out


@dataclass
class SearchProtocol:
    """The search protocol of one evaluation run: its queries, their retrieval and the served weight."""

    builder: QueryBuilder
    retrieval: QueryRetrieval
    served_weight: float

    def run(
        self, rankers: Sequence, test: Sequence[TestCase], validation: Sequence[TestCase], samples: int, seed: int
    ) -> dict | None:
        """The protocol for the rankers that order a query's hits for a user (None: no such ranker)."""
        personal = [r for r in rankers if callable(getattr(r, "personal_order", None))]
        if not personal:
            return None
        return evaluate_search(personal, test, validation, self.builder, self.retrieval, self.served_weight,
                               samples, seed)  # fmt: skip
