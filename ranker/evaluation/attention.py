"""The attention reranker as an evaluated ranker, measured on exactly what /v1/recommend serves.

1. Candidates: :func:`ranker.model.candidates.candidate_pool`, the pooling the service runs (k-NN from the real
   index on the user's history vector, the user's own items when already-bought items are eligible, the model's
   co-purchases and what sells now; each scored by its cosine with the history vector), with the service's size
   (``RECSEARCH_SERVICE_RECOMMEND_CANDIDATES``).
2. :class:`ranker.model.scoring.Scorer` ranks them at the moment the user came back, with a model trained in
   :meth:`AttentionReranker.fit` on the split's training events only (``ranker.training.fit.fit``), so the test
   period stays unseen. A fixed checkpoint can be given instead; it is only honest when it was trained on events
   before the split's cutoff.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ranker.evaluation.catalog import IndexSnapshot, ItemSearch
from ranker.evaluation.splits import TestCase
from ranker.feedback import Interaction
from ranker.model import ExactNeighbours, ItemVectors, candidate_pool, history_vector, retrieval_scores


class AttentionReranker:
    """The service's candidate pool, ranked by the attention model."""

    kind = "model"

    def __init__(
        self,
        catalog: IndexSnapshot,
        search: ItemSearch,
        *,
        name: str = "attention",
        train_options=None,
        checkpoint=None,
        candidates: int = 200,
        profile_length: int = 200,
        max_train_examples: int | None = None,
        sequence_weight: float = 0.0,
        session_minutes: float = 30.0,
        log: Callable[[str], None] | None = None,
    ):
        """``candidates``, ``profile_length``, ``sequence_weight`` and ``session_minutes``: the service's pool size,
        profile length, weight of the sequence model's order and session length
        (``RECSEARCH_SERVICE_RECOMMEND_CANDIDATES``, ``RECSEARCH_EVENTS_HISTORY_LENGTH``,
        ``RECSEARCH_SEQUENCE_ORDER_WEIGHT``, ``RECSEARCH_SEQUENCE_SESSION_MINUTES``)."""
        self.catalog, self.search, self.name = catalog, search, name
        self.train_options, self.fixed, self.candidates = train_options, checkpoint, candidates
        self.profile_length, self.max_train_examples, self.log = profile_length, max_train_examples, log
        self.sequence_weight, self.session_minutes = sequence_weight, session_minutes
        self.scorer = None
        self.explainer = None  # a scorer that explains (the evaluation ranks without explanations: faster)
        self.checkpoint = checkpoint
        self.fit_info: dict = {}
        stored = catalog.stored_vectors if catalog.stored_vectors is not None else catalog.vectors
        self.vectors = ItemVectors.from_arrays(catalog.ids, stored, None, catalog.prices, catalog.recommendable)

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        """Train on ``train`` (early stopping on its own newest slice, as ``recadmin train`` does: ``validation``
        is not used, so the model is trained exactly as the served one is)."""

        if self.fixed is not None:
            checkpoint = self.fixed
        else:
            from core.settings import RankerSettings
            from ranker.training import TrainOptions, fit

            options = self.train_options or TrainOptions(RankerSettings())
            result = fit(train, self.vectors, options, log=self.log,
                         max_train_examples=self.max_train_examples)  # fmt: skip
            checkpoint = result.checkpoint(f"eval-{self.name}", self.vectors)
            self.fit_info = {"seconds": result.info.get("seconds"), "train_examples": result.info.get("train_examples"),
                             "best_epoch": result.metrics.get("best_epoch")}  # fmt: skip
        self.checkpoint = checkpoint
        self.scorer = self._scorer(checkpoint, explanations=0)
        self.explainer = None
        self.now = train["ts"].max()

    def _scorer(self, checkpoint, explanations: int):
        from ranker.model import Scorer

        return Scorer(checkpoint, self.vectors, explanations=explanations, sequence_weight=self.sequence_weight,
                      session_minutes=self.session_minutes)  # fmt: skip

    def _history(self, case: TestCase) -> list[Interaction]:
        """The case's history as the service's profile store holds it: the newest ``profile_length`` interactions
        with catalog items, newest first."""
        events = [(i, ts) for i, ts in zip(case.history, case.history_ts, strict=True) if i in self.catalog]
        return [Interaction(i, "purchase", pd.Timestamp(ts).to_pydatetime())
                for i, ts in reversed(events[-self.profile_length:])]  # fmt: skip

    def _moment(self, case: TestCase):
        """When the user came back (as in training: from the target basket's time); naive times are UTC."""
        now = pd.Timestamp(case.at if case.at is not None else self.now)
        return (now.tz_localize("UTC") if now.tzinfo is None else now).to_pydatetime()

    def _pool(self, case: TestCase, exclude_seen: bool):
        """The user's history and candidate pool, as ``/v1/recommend`` builds them."""
        history = self._history(case)
        # Already-bought items excluded: the whole history's, as the service leaves out every purchase of the user.
        pool = candidate_pool(
            history, self.search, self.vectors, model=self.scorer, size=self.candidates,
            window=self.scorer.config.history_length, include_purchased=not exclude_seen,
            exclude=case.seen if exclude_seen else (),
            learned=ExactNeighbours(self.scorer.behaviour) if self.scorer.behaviour is not None else None,
        )  # fmt: skip
        return history, pool

    def _rank(self, case: TestCase, exclude_seen: bool, scorer=None) -> list:
        """The user's ranked pool: ids; or, with ``scorer`` (the same model, explaining), its results."""
        history, pool = self._pool(case, exclude_seen)
        if not pool.candidates:
            return []
        results = (scorer or self.scorer).score(history, pool.candidates, now=self._moment(case))
        return results if scorer is not None else [s.id for s in results]

    def orders_by_sequence(self) -> bool:
        """Whether the fitted model has a sequence model whose order the scorer can fuse with the ranker's."""
        return self.scorer is not None and self.scorer.behaviour is not None

    def two_orders(self, case: TestCase, exclude_seen: bool) -> tuple[list[str], np.ndarray, np.ndarray | None]:
        """The user's pool (ids) with the ranker's scores alone and the sequence model's scores (None when it does
        not know the user's items), for weighing the two orders (:mod:`ranker.evaluation.sequence_weight`)."""
        history, pool = self._pool(case, exclude_seen)
        ids = [c.id for c in pool.candidates]
        if not ids:
            return [], np.zeros(0), None
        alone = self.scorer.score(history, pool.candidates, now=self._moment(case), sequence_weight=0.0)
        ranker = {s.id: s.score for s in alone}
        # As the scorer fuses them: within the user's session only.
        in_session = self.scorer.in_session(history, self._moment(case))
        sequence = self.scorer.sequence_scores(history, self.vectors.rows(ids)) if in_session else None
        return ids, np.array([ranker[i] for i in ids]), sequence

    def personal_order(self, case: TestCase, hits: Sequence[tuple[str, float]]) -> list[str]:
        """The model's order of a query's ``hits`` (id, query score) for the user, as ``/v1/search`` scores them
        (the query's score is the retrieval score)."""
        from ranker.model import Candidate

        history = self._history(case)
        if not history:
            return [i for i, _ in hits]
        scored = self.scorer.score(history, [Candidate(i, float(s)) for i, s in hits], now=self._moment(case))
        return [s.id for s in scored]

    def explained(self, case: TestCase, k: int) -> list[tuple[str, list[tuple[str, float]]]]:
        """The top ``k`` (already-bought items excluded) with the explanations the service shows for them."""

        if self.explainer is None:
            self.explainer = self._scorer(self.checkpoint, explanations=3)
        top = self._rank(case, exclude_seen=True, scorer=self.explainer)[:k]
        return [(s.id, [(e.item_id, float(e.weight)) for e in s.explanations]) for s in top]

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        return [self._rank(case, exclude_seen)[:k] for case in cases]

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        """Scores of given items (the sampled protocol), retrieval scored as the pool scores it."""
        from ranker.model import Candidate

        history = self._history(case)
        vector = history_vector(history, self.vectors, self.scorer.config.history_length)
        retrieval = retrieval_scores(items, self.vectors, vector)[0] if vector is not None else [0.0] * len(items)
        scored = self.scorer.score(history, [Candidate(i, float(r)) for i, r in zip(items, retrieval, strict=True)],
                                   now=self._moment(case))  # fmt: skip
        ranked = {s.id: s.score for s in scored}
        return np.array([ranked[i] for i in items])


def attention_factory(settings, checkpoints: Sequence[str] = (), train: bool = True, log=None):
    """A ranker factory for :func:`ranker.evaluation.api.evaluate`: per index, an attention ranker trained on
    each split's training events (``train``), and one row per fixed checkpoint file on the primary index."""

    def build(loaded: dict) -> list:
        from ranker.model import load_checkpoint
        from ranker.training import TrainOptions

        e = settings.evaluation
        options = TrainOptions.from_settings(settings.ranker, settings.sequence, epochs=e.ranker_epochs)
        size, profile = settings.service.recommend_candidates, settings.events.history_length
        weight, session = settings.sequence.order_weight, settings.sequence.session_minutes
        rankers: list = []
        if train:
            for label, (catalog, search) in loaded.items():
                rankers.append(AttentionReranker(
                    catalog, search, name=f"attention[{label}]", train_options=options, candidates=size,
                    profile_length=profile, max_train_examples=e.ranker_train_examples or None,
                    sequence_weight=weight, session_minutes=session, log=log,
                ))  # fmt: skip
        catalog, search = next(iter(loaded.values()))
        for spec in checkpoints:
            label, sep, path = spec.partition("=")
            path = path if sep else label
            checkpoint = load_checkpoint(path)
            rankers.append(AttentionReranker(
                catalog, search, name=f"attention[{label if sep else checkpoint.version}]", checkpoint=checkpoint,
                candidates=size, profile_length=profile, sequence_weight=weight, session_minutes=session,
            ))  # fmt: skip
        return rankers

    return build
