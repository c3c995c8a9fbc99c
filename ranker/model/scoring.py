"""In-process scoring with a trained :class:`~ranker.model.network.AttentionRanker`: history + candidates -> ranked
results.

The model's forward pass is re-done in numpy with weights copied out of the checkpoint once: no autograd, no
torch dispatch per operation, so 100 candidates against 50 history items take a fraction of a millisecond on
one CPU core (``bench/bench_scoring.py``). ``tests/unit/ranker/model/test_scoring.py`` checks that it matches the
torch model.

Candidates that are not in the item table are scored with a zero embedding (no semantic signal, no popularity)
and get no explanations; history items that are not in the table are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from core.errors import ModelError
from ranker.model.behaviour import BehaviourSpace
from ranker.model.checkpoint import Checkpoint
from ranker.model.explanations import Explainer, Scored
from ranker.model.features import candidate_features, recency_buckets
from ranker.model.item_vectors import ItemVectors
from ranker.model.query_order import fused_scores


class HistoryEntry(Protocol):
    """One history interaction (``ranker.feedback.profiles.Interaction``): newest first in a history list."""

    item_id: str
    type: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class Candidate:
    """A hit to rerank."""

    id: str
    retrieval_score: float


@dataclass(frozen=True, slots=True)
class ScoringInputs:
    """The model's inputs for one user: candidates (C) and the attention window (H), newest first."""

    cand_rows: np.ndarray  # (C,) int64 item-table row of each candidate, -1 when unknown
    features: np.ndarray  # (C, F) float32 scalar features in the checkpoint's order
    hist: list[Any]  # (H,) the history entries attention reads
    hist_rows: np.ndarray  # (H,) int64
    hist_types: np.ndarray  # (H,) int64 event-type index
    hist_recency: np.ndarray  # (H,) int64 recency bucket
    sequence: np.ndarray | None = None  # (C,) the sequence model's scores (-inf: unknown item), None without one


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


class Scorer:
    """Scores candidates for one user at a time with a loaded checkpoint and the item vectors."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        item_vectors: ItemVectors,
        *,
        explanations: int = 3,
        threads: int | None = 1,
        sequence_weight: float = 0.0,
        session_minutes: float = 30.0,
    ):
        """``threads``: BLAS threads for this process (a process-wide limit, set once; None leaves it alone).
        The matrices of one request are small, so extra threads only add hand-off latency. ``sequence_weight``: how
        much the sequence model's own order of the candidates counts beside the ranker's (reciprocal rank fusion,
        ``RECSEARCH_SEQUENCE_ORDER_WEIGHT``; 0: the ranker's order alone) while the user's session goes on: their
        newest event at most ``session_minutes`` old (``RECSEARCH_SEQUENCE_SESSION_MINUTES``). A returning user gets
        the ranker's order: it is trained for the next visit's basket, the sequence model for the next event."""
        if threads:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=threads, user_api="blas")
        config = checkpoint.config
        if item_vectors.dim != config.item_dim:
            raise ModelError(
                f"ranker {checkpoint.version} expects {config.item_dim}-dim item vectors but the index has "
                f"{item_vectors.dim}; retrain with `recadmin train` after rebuilding the index"
            )
        m = checkpoint.model
        self.version = checkpoint.version
        self.config = config
        self.item_vectors = item_vectors
        self.explanations = explanations
        self.sequence_weight = sequence_weight
        self.session_minutes = session_minutes
        self.stats = checkpoint.item_stats.aligned(item_vectors.ids, item_vectors.prices)
        #: The learned item space of the version's sequence model over this item table (None without one).
        self.behaviour = BehaviourSpace(checkpoint.sequence, item_vectors, threads) if checkpoint.sequence else None
        # (D, A) weights so that x @ W + b is the torch Linear.
        wq, bq = _np(m.query.weight).T, _np(m.query.bias)
        wk, bk = _np(m.key.weight).T, _np(m.key.bias)
        wv, bv = _np(m.value.weight).T, _np(m.value.bias)
        self._type_k, self._type_v = _np(m.type_key.weight), _np(m.type_value.weight)
        self._rec_k, self._rec_v = _np(m.recency_key.weight), _np(m.recency_value.weight)
        a = config.attention_dim
        w1, self._b1 = _np(m.hidden.weight).T, _np(m.hidden.bias)  # (3A + F, hidden)
        self._w1_mix = np.ascontiguousarray(w1[a : 3 * a])  # rows for [interest, q * interest]
        self._w1_feat = np.ascontiguousarray(w1[3 * a :])  # rows for the scalar features
        self._w2, self._b2 = _np(m.out.weight)[0].copy(), float(m.out.bias.item())
        self._scale = np.float32(1.0 / math.sqrt(a))
        # Embedding row of each event type the model knows; any other type is row 0, never added here (a client
        # sending endless custom types must not grow the scorer).
        self._type_index: dict[str, int] = {t: config.type_index(t) for t in config.event_types}
        self._last_user: tuple[tuple, np.ndarray | None] | None = None
        # The projections are linear in the item vector, so they are computed once for the whole item table
        # (3.9k items: ~3 MB) and a request only gathers rows. The last row is an unknown item (zero vector).
        table = np.vstack([item_vectors.vectors, np.zeros((1, item_vectors.dim), dtype=np.float32)])
        self._q = table @ wq + bq  # (N + 1, A)
        self._q_hidden = self._q @ w1[:a]  # (N + 1, hidden): the query's share of the MLP's first layer
        self._k = table @ wk + bk  # (N + 1, A)
        self._v = table @ wv + bv  # (N + 1, A)

    def companions(self, history: Sequence[HistoryEntry], n: int) -> list[str]:
        """Up to ``n`` items most often bought together with the user's history (the checkpoint's co-occurrence
        counts over its feature history), best first: recommendation candidates beside the k-NN ones. Items marked
        not recommendable are never among them (postage is bought with everything)."""
        rows = self.item_vectors.rows([h.item_id for h in history[: self.config.feature_history]])
        rows = rows[rows >= 0]
        if not len(rows) or self.stats.cooc.nnz == 0:
            return []
        sums = np.asarray(self.stats.cooc[rows].sum(axis=0)).ravel()[:-1]  # the last column is the unknown item
        sums = np.where(self.item_vectors.recommendable, sums, 0)
        top = np.argsort(-sums, kind="stable")[:n]
        return [self.item_vectors.ids[i] for i in top if sums[i] > 0]

    def trending(self, n: int) -> list[str]:
        """Up to ``n`` items that sold most in the training data's last days (the ``trend`` feature), best first;
        none marked not recommendable."""
        trend = np.where(self.item_vectors.recommendable, self.stats.trend[:-1], 0)
        top = np.argsort(-trend, kind="stable")[:n]
        return [self.item_vectors.ids[i] for i in top if trend[i] > 0]

    def _types(self, types: Sequence[str]) -> np.ndarray:
        index = self._type_index
        return np.fromiter((index.get(t, 0) for t in types), dtype=np.int64, count=len(types))

    def _ages_days(self, history: Sequence[Any], now: datetime) -> np.ndarray:
        # Naive timestamps are UTC throughout the project: compare them with a naive "now" (no per-item replace).
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        naive_now = now.replace(tzinfo=None) - (now.utcoffset() or timedelta(0))
        seconds = [((now if h.ts.tzinfo else naive_now) - h.ts).total_seconds() for h in history]
        return np.asarray(seconds, dtype=np.float64) / 86400.0

    def inputs(
        self, history: Sequence[HistoryEntry], candidates: Sequence[Candidate], now: datetime | None = None
    ) -> ScoringInputs:
        """What the model reads for this user and these candidates: the arrays training builds for one example
        (:func:`ranker.training.examples.make_batch`), from the same two history windows of the checkpoint's config.

        ``history`` is newest first: attention reads the first ``config.history_length`` entries whose item is in
        the table, the repeat and co-occurrence features the first ``config.feature_history``; ``now`` (default: the
        current UTC time) is what the age of each history item is measured from."""
        config = self.config
        window = list(history[: config.history_needed])
        rows = self.item_vectors.rows([h.item_id for h in window])
        found = rows >= 0
        known = [h for h, f in zip(window, found.tolist(), strict=True) if f]  # items of the table, newest first
        known_rows = rows[found]
        n_attend = int(found[: config.history_length].sum())
        n_feat = int(found[: config.feature_history].sum())
        ages = self._ages_days(known, now or datetime.now(UTC)) if known else np.zeros(0)
        hist = known[:n_attend]
        cand_rows = self.item_vectors.rows([c.id for c in candidates])  # (C,)
        retrieval = np.fromiter((c.retrieval_score for c in candidates), dtype=np.float32, count=len(candidates))
        sequence = self.sequence_scores(history, cand_rows)
        features = candidate_features(
            retrieval[None], cand_rows[None], known_rows[None, :n_feat], np.ones((1, n_feat), dtype=bool),
            self.stats, ages[None, :n_feat], config.features, sequence_scores=None if sequence is None else
            np.where(cand_rows >= 0, sequence, 0.0)[None],
        )[0]  # (C, F)  # fmt: skip
        return ScoringInputs(
            cand_rows=cand_rows,
            features=features,
            hist=hist,
            hist_rows=known_rows[:n_attend],
            hist_types=self._types([h.type for h in hist]),
            hist_recency=recency_buckets(ages[:n_attend], config.recency_buckets),
            sequence=sequence,
        )

    def user_vector(self, history: Sequence[HistoryEntry]) -> np.ndarray | None:
        """The sequence model's vector of the user with ``history`` (newest first); None without a sequence model or
        a known history item. The last one is remembered: the candidate pool and the scoring of one request share
        it."""
        if self.behaviour is None:
            return None
        key = tuple((h.item_id, h.ts) for h in history[: self.behaviour.config.max_length])
        last = self._last_user
        if last is not None and last[0] == key:
            return last[1]
        vector = self.behaviour.user_vector(history)
        self._last_user = (key, vector)
        return vector

    def in_session(self, history: Sequence[HistoryEntry], now: datetime | None = None) -> bool:
        """Whether the user's newest event (``history`` is newest first) is at most ``session_minutes`` old at
        ``now`` (default: the current UTC time): the session goes on, and the sequence model's order counts."""
        if not history:
            return False
        age_days = self._ages_days(history[:1], now or datetime.now(UTC))[0]
        return bool(age_days * 1440.0 <= self.session_minutes)

    def sequence_scores(self, history: Sequence[HistoryEntry], cand_rows: np.ndarray) -> np.ndarray | None:
        """The sequence model's score of the candidates at item-table ``cand_rows`` for the user (-inf for an item
        it does not know: row -1); None without a sequence model or a known history item."""
        vector = self.user_vector(history)
        if vector is None:
            return None
        return np.where(cand_rows >= 0, self.behaviour.scores(vector, cand_rows), -np.inf).astype(np.float32)

    def score(
        self,
        history: Sequence[HistoryEntry],
        candidates: Sequence[Candidate],
        now: datetime | None = None,
        *,
        sequence_weight: float | None = None,
    ) -> list[Scored]:
        """Every candidate scored and sorted by score (ties keep the order given), with explanations; the history
        windows and ``now`` as in :meth:`inputs`. ``sequence_weight``: this call's weight of the sequence model's
        order instead of the scorer's (0: the ranker's order alone)."""
        weight = self.sequence_weight if sequence_weight is None else sequence_weight
        if not candidates:
            return []
        x = self.inputs(history, candidates, now)
        q = self._q[x.cand_rows]  # (C, A); row -1 is the unknown-item row
        pre = self._q_hidden[x.cand_rows] + x.features @ self._w1_feat + self._b1  # (C, hidden)
        if x.hist:
            k = self._k[x.hist_rows] + self._type_k[x.hist_types] + self._rec_k[x.hist_recency]  # (H, A)
            v = self._v[x.hist_rows] + self._type_v[x.hist_types] + self._rec_v[x.hist_recency]  # (H, A)
            logits = (q @ k.T) * self._scale  # (C, H)
            logits -= logits.max(axis=1, keepdims=True)
            weights = np.exp(logits)
            weights /= weights.sum(axis=1, keepdims=True)  # (C, H)
            interest = weights @ v  # (C, A)
            pre += np.concatenate([interest, q * interest], axis=1) @ self._w1_mix
        else:
            # No history: interest is zero, so its share of the first layer is zero too.
            weights = np.zeros((len(candidates), 0), dtype=np.float32)
        scores = np.maximum(pre, 0.0) @ self._w2 + self._b2  # (C,)
        if weight > 0 and x.sequence is not None and self.in_session(history, now):
            # The ranker is trained on whole baskets, the sequence model on the next event: while the session goes
            # on, the sequence model's order of the same candidates (items it does not know last) counts too.
            scores = fused_scores(scores, x.sequence, weight)
        return self._results(candidates, scores, weights, x.hist, x.hist_rows, x.cand_rows)

    def _results(
        self,
        candidates: Sequence[Candidate],
        scores: np.ndarray,
        weights: np.ndarray,
        hist: list[Any],
        hist_rows: np.ndarray,
        cand_rows: np.ndarray,
    ) -> list[Scored]:
        # Sorting is all the scoring call does here: the explanations are worked out when first read.
        order = np.argsort(-scores, kind="stable").tolist()
        score_list = scores.tolist()
        n = min(self.explanations, len(hist))
        if not n:
            return [Scored(candidates[c].id, score_list[c], candidates[c].retrieval_score) for c in order]
        # With a sequence model, a result is explained by the history items nearest it in the learned space.
        space = (self.behaviour.vectors, cand_rows) if self.behaviour is not None else None
        hidden = ~self.item_vectors.recommendable[hist_rows]  # non-products are history, never a reason
        explainer = Explainer(weights, hist, hist_rows, cand_rows < 0, n, space, hidden)
        pending = Scored._pending
        return [pending((cand := candidates[c]).id, score_list[c], cand.retrieval_score, explainer, c) for c in order]
