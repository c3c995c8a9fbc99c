"""The attention reranker as an evaluated ranker: two stages, like the service.

1. Candidates: k-NN from the real index on the mean of the history vectors, the co-occurrence baseline's top
   items (fitted on the same training events), the items that sold most in the training events' last days (the
   model's ``trend`` feature), and, when already-bought items are eligible, the user's own newest 200 distinct
   items. Every candidate's retrieval score is its cosine with the history mean, which is what the
   ranker saw in training (``ranker.training.examples.retrieval_proxy``).
2. :class:`ranker.model.scoring.Scorer` reranks them with a model trained in :meth:`AttentionReranker.fit` on the
   split's training events only (``ranker.training.fit.fit``), so the test period stays unseen. A fixed checkpoint can be
   given instead; it is only honest when it was trained on events before the split's cutoff.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ranker.evaluation.baselines import CoOccurrence, HistoryKnn, history_mean
from ranker.evaluation.catalog import Catalog, ItemSearch
from ranker.evaluation.splits import TestCase
from ranker.feedback.profiles import Interaction


class AttentionReranker:
    """Candidates from the index (+ co-occurrence), reranked by the attention model."""

    kind = "model"

    def __init__(
        self,
        catalog: Catalog,
        search: ItemSearch,
        *,
        name: str = "attention",
        train_options=None,
        checkpoint=None,
        candidates: int = 200,
        max_train_examples: int | None = None,
        log: Callable[[str], None] | None = None,
    ):
        self.catalog, self.search, self.name = catalog, search, name
        self.train_options, self.fixed, self.candidates = train_options, checkpoint, candidates
        self.max_train_examples, self.log = max_train_examples, log
        #: The user's own newest distinct items added to the pool when already-bought items are eligible.
        self.own_items = 200
        #: The best sellers of the training data's last days added to every pool.
        self.trending_items = 100
        self.trending: list[str] = []
        self.cooc = CoOccurrence(catalog, name=f"{name}-candidates")
        self.knn = HistoryKnn(catalog, search, name=f"{name}-candidates")
        self.scorer = None
        self.fit_info: dict = {}
        from ranker.model.item_vectors import ItemVectors

        self.vectors = ItemVectors.from_arrays(catalog.ids, catalog.vectors, None, catalog.prices)

    def fit(self, train: pd.DataFrame) -> None:
        from ranker.model.checkpoint import Checkpoint
        from ranker.model.scoring import Scorer

        self.cooc.fit(train)
        if self.fixed is not None:
            checkpoint = self.fixed
        else:
            from ranker.training.fit import TrainOptions, fit

            result = fit(train, self.vectors, self.train_options or TrainOptions(), log=self.log,
                         max_train_examples=self.max_train_examples)  # fmt: skip
            checkpoint = Checkpoint(result.model, f"eval-{self.name}", result.item_stats, result.metrics, result.info)
            self.fit_info = {"seconds": result.info.get("seconds"), "train_examples": result.info.get("train_examples"),
                             "best_epoch": result.metrics.get("best_epoch")}  # fmt: skip
        length = (self.train_options.history_length if self.train_options else 50)
        self.scorer = Scorer(checkpoint, self.vectors, history_length=length, explanations=0)
        trend = self.scorer.stats.trend[:-1]  # aligned with the catalog rows (the last row is the unknown item)
        top = np.argsort(-trend, kind="stable")[: self.trending_items]
        self.trending = [self.catalog.ids[i] for i in top if trend[i] > 0]
        self.now = train["ts"].max()

    def _history(self, case: TestCase) -> list[Interaction]:
        return [Interaction(i, "purchase", pd.Timestamp(ts).to_pydatetime()) for i, ts in zip(reversed(case.history),
                                                                           reversed(case.history_ts))]  # fmt: skip

    def _rank(self, case: TestCase, items: Sequence[str]) -> list[tuple[str, float]]:
        from ranker.model.scoring import Candidate

        mean = history_mean(self.catalog, case)
        retrieval = self.catalog.vectors_of(items) @ mean if mean is not None else np.zeros(len(items))
        # Recency is measured from when the user came back (as in training: from the target basket's time).
        now = pd.Timestamp(case.at if case.at is not None else self.now)
        now = (now.tz_localize("UTC") if now.tzinfo is None else now).to_pydatetime()  # naive times are UTC
        scored = self.scorer.score(self._history(case),
                                   [Candidate(i, float(r)) for i, r in zip(items, retrieval)], now=now)  # fmt: skip
        return [(s.id, s.score) for s in scored]

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        knn = self.knn.recommend(cases, self.candidates, exclude_seen)
        out = []
        for i, case in enumerate(cases):
            trending = [t for t in self.trending if not (exclude_seen and t in case.seen)]
            pool = list(dict.fromkeys(knn[i] + self.cooc.recommend([case], self.candidates, exclude_seen)[0]
                                      + trending))  # fmt: skip
            if not exclude_seen:
                own = [h for h in dict.fromkeys(reversed(case.history)) if h in self.catalog and h not in pool]
                pool += own[: self.own_items]
            out.append([item for item, _ in self._rank(case, pool)[:k]] if pool else [])
        return out

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        ranked = dict(self._rank(case, list(items)))
        return np.array([ranked[i] for i in items])


def attention_factory(settings, checkpoints: Sequence[str] = (), train: bool = True, log=None):
    """A ranker factory for :func:`ranker.evaluation.api.evaluate`: per index, an attention ranker trained on
    each split's training events (``train``), and one row per fixed checkpoint file on the primary index."""

    def build(loaded: dict) -> list:
        from ranker.model.checkpoint import load_checkpoint
        from ranker.training.fit import TrainOptions

        e = settings.evaluation
        options = TrainOptions.from_settings(settings.ranker, epochs=e.ranker_epochs)
        rankers: list = []
        if train:
            for label, (catalog, search) in loaded.items():
                rankers.append(AttentionReranker(
                    catalog, search, name=f"attention[{label}]", train_options=options, candidates=e.candidates,
                    max_train_examples=e.ranker_train_examples or None, log=log,
                ))  # fmt: skip
        catalog, search = next(iter(loaded.values()))
        for spec in checkpoints:
            label, sep, path = spec.partition("=")
            path = path if sep else label
            checkpoint = load_checkpoint(path)
            rankers.append(AttentionReranker(
                catalog, search, name=f"attention[{label if sep else checkpoint.version}]", checkpoint=checkpoint,
                candidates=e.candidates,
            ))  # fmt: skip
        return rankers

    return build
