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
from operator import attrgetter
from typing import Any, Protocol

import numpy as np

from core.errors import ModelError
from ranker.model.behaviour import BehaviourSpace
from ranker.model.checkpoint import Checkpoint
from ranker.model.explanations import Explainer, Scored
from ranker.model.feature_plan import FeaturePlan
from ranker.model.features import recency_buckets
from ranker.model.item_vectors import ItemVectors
from ranker.model.query_order import fused_scores
from ranker.model.user_state import UserState, UserStates, build_state, micros


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


_ID, _RETRIEVAL = attrgetter("id"), attrgetter("retrieval_score")

#: Largest item table whose attention projections (query, its share of the first layer, key, value: 1 KB an item
#: at the default widths) are computed once for every item; a larger one projects each request's rows.
PROJECTION_LIMIT = 100_000


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
        user_states: int = 256,
        projection_limit: int = PROJECTION_LIMIT,
    ):
        """``threads``: BLAS threads for this process (a process-wide limit, set once; None leaves it alone).
        The matrices of one request are small, so extra threads only add hand-off latency. ``sequence_weight``: how
        much the sequence model's own order of the candidates counts beside the ranker's (reciprocal rank fusion,
        ``RECSEARCH_SEQUENCE_ORDER_WEIGHT``; 0: the ranker's order alone) while the user's session goes on: their
        newest event at most ``session_minutes`` old (``RECSEARCH_SEQUENCE_SESSION_MINUTES``). A returning user gets
        the ranker's order: it is trained for the next visit's basket, the sequence model for the next event.
        ``user_states``: how many users' history states to keep between requests (:mod:`ranker.model.user_state`,
        ``RECSEARCH_RANKER_USER_STATES``; 0: build it for every call). ``projection_limit``: the largest catalog whose
        attention projections are computed once for every item (:data:`PROJECTION_LIMIT`)."""
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
        self.plan = FeaturePlan(config.features, self.stats)
        #: The states of the latest users' histories (user vector, history rows, grouped history, ...).
        self.states = UserStates(user_states)
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
        # The projections are linear in the item vector, so for a catalog of up to PROJECTION_LIMIT items they are
        # computed once for the whole item table (3.9k items: ~4 MB) and a request only gathers rows; above it (1M
        # items would take 1 GB) a request projects its own candidates' and history's vectors (a few hundred rows).
        # The last row is an unknown item (zero vector).
        self._wq, self._bq, self._wk, self._bk, self._wv, self._bv = wq, bq, wk, bk, wv, bv
        self._w1_q = np.ascontiguousarray(w1[:a])
        self.precomputed = len(item_vectors) <= projection_limit
        if self.precomputed:
            every = np.append(np.arange(len(item_vectors)), -1)  # each row, then the unknown item's (row -1)
            self._q, self._q_hidden, self._k, self._v = self._project(every)
        # What sells now is the same for every request: ordered once here, not over the catalog per request.
        trend = np.where(item_vectors.recommendable, self.stats.trend[:-1], 0)
        selling = np.flatnonzero(trend > 0)
        self._trending = selling[np.argsort(-trend[selling], kind="stable")]

    def _project(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(query (R, A), query's share of the MLP's first layer with its bias (R, hidden), key (R, A), value (R, A))
        of the items at table ``rows`` (-1: the unknown item, a zero vector), from their stored vectors."""
        x = self.item_vectors.table_rows(rows)  # (R, D) float32
        q = x @ self._wq + self._bq
        return q, q @ self._w1_q + self._b1, x @ self._wk + self._bk, x @ self._wv + self._bv

    def _queries(self, cand_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query (C, A), query share of the first layer (C, hidden)) of the candidates at ``cand_rows``."""
        if self.precomputed:
            return self._q[cand_rows], self._q_hidden[cand_rows]
        q, q_hidden, _, _ = self._project(cand_rows)
        return q, q_hidden

    def _keys_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(key (H, A), value (H, A)) of the history items at ``rows``, before their type and recency embeddings."""
        if self.precomputed:
            return self._k[rows], self._v[rows]
        _, _, k, v = self._project(rows)
        return k, v

    def companions(self, history: Sequence[HistoryEntry], n: int) -> list[str]:
        """Up to ``n`` items most often bought together with the user's history (the checkpoint's co-occurrence
        counts over its feature history), best first: recommendation candidates beside the k-NN ones. Items marked
        not recommendable are never among them (postage is bought with everything)."""
        rows = self.item_vectors.rows([h.item_id for h in history[: self.config.feature_history]])
        rows = rows[rows >= 0]
        cooc = self.stats.cooc
        if not len(rows) or cooc.nnz == 0:
            return []
        # Only the history rows' stored neighbours are read (at most 200 each): never a pass over the catalog.
        block = cooc[rows].tocoo()
        cols, sums = np.unique(block.col, return_inverse=True)
        sums = np.bincount(sums, weights=block.data, minlength=len(cols))
        keep = (cols < len(self.item_vectors)) & (sums > 0)  # the last column is the unknown item
        cols, sums = cols[keep], sums[keep]
        keep = self.item_vectors.recommendable[cols]
        cols, sums = cols[keep], sums[keep]
        top = np.argsort(-sums, kind="stable")[:n]  # ties in row order, as over the whole table
        return self.item_vectors.ids.take(cols[top])

    def trending(self, n: int) -> list[str]:
        """Up to ``n`` items that sold most in the training data's last days (the ``trend`` feature), best first;
        none marked not recommendable."""
        return self.item_vectors.ids.take(self._trending[:n])

    @property
    def type_index(self) -> dict[str, int]:
        """Embedding row of each event type the model knows (any other type: row 0)."""
        return self._type_index

    def _ages_days(self, history: Sequence[Any], now: datetime) -> np.ndarray:
        # Naive timestamps are UTC throughout the project: compare them with a naive "now" (no per-item replace).
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        naive_now = now.replace(tzinfo=None) - (now.utcoffset() or timedelta(0))
        seconds = [((now if h.ts.tzinfo else naive_now) - h.ts).total_seconds() for h in history]
        return np.asarray(seconds, dtype=np.float64) / 86400.0

    def state(self, history: Sequence[HistoryEntry]) -> UserState:
        """What scoring reads of ``history`` (newest first) alone: kept per history for the next requests."""
        return self.states.get(history, lambda: build_state(self, history))

    def inputs(
        self, history: Sequence[HistoryEntry], candidates: Sequence[Candidate], now: datetime | None = None
    ) -> ScoringInputs:
        """What the model reads for this user and these candidates: the arrays training builds for one example
        (:func:`ranker.training.examples.make_batch`), from the same two history windows of the checkpoint's config.

        ``history`` is newest first: attention reads the first ``config.history_length`` entries whose item is in
        the table, the repeat and co-occurrence features the first ``config.feature_history``; ``now`` (default: the
        current UTC time) is what the age of each history item is measured from."""
        return self._inputs(self.state(history), candidates, now)

    def _inputs(self, state: UserState, candidates: Sequence[Candidate], now: datetime | None) -> ScoringInputs:
        now_micros = micros(now or datetime.now(UTC))
        ages = state.ages_days(now_micros)
        cand_rows = self.item_vectors.rows(list(map(_ID, candidates)))  # (C,)
        retrieval = np.fromiter(map(_RETRIEVAL, candidates), dtype=np.float32, count=len(candidates))
        # The sequence model's scores: 0 for an unknown item as a feature, -inf (last) in its order.
        raw = None if state.vector is None else self.behaviour.scores(state.vector, cand_rows)
        sequence = None if raw is None else np.where(cand_rows >= 0, raw, np.float32(-np.inf))
        n_feat = len(state.feat_rows)
        features = self.plan.features(
            retrieval, cand_rows, state.feat_rows, ages[:n_feat], state.groups, state.user_values,
            raw,
            state.cooc_sums(cand_rows, now_micros),
        )  # fmt: skip
        return ScoringInputs(
            cand_rows=cand_rows,
            features=features,
            hist=state.hist,
            hist_rows=state.hist_rows,
            hist_types=state.hist_types,
            hist_recency=recency_buckets(ages[: len(state.hist)], self.config.recency_buckets),
            sequence=sequence,
        )

    def user_vector(self, history: Sequence[HistoryEntry]) -> np.ndarray | None:
        """The sequence model's vector of the user with ``history`` (newest first); None without a sequence model or
        a known history item. Kept with the user's state: the candidate pool and the scoring of one request, and
        the user's next requests until an event arrives, share it."""
        return self.state(history).vector if self.behaviour is not None else None

    def in_session(self, history: Sequence[HistoryEntry], now: datetime | None = None) -> bool:
        """Whether the user's newest event (``history`` is newest first) is at most ``session_minutes`` old at
        ``now`` (default: the current UTC time): the session goes on, and the sequence model's order counts."""
        if not history:
            return False
        # The arithmetic of _ages_days, without its arrays (this runs on every call of a user with a sequence model).
        age_days = ((micros(now or datetime.now(UTC)) - micros(history[0].ts)) / 1e6) / 86400.0
        return bool(age_days * 1440.0 <= self.session_minutes)

    def sequence_scores(self, history: Sequence[HistoryEntry], cand_rows: np.ndarray) -> np.ndarray | None:
        """The sequence model's score of the candidates at item-table ``cand_rows`` for the user (-inf for an item
        it does not know: row -1); None without a sequence model or a known history item."""
        vector = self.user_vector(history)
        if vector is None:
            return None
        return np.where(cand_rows >= 0, self.behaviour.scores(vector, cand_rows), np.float32(-np.inf))

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
        state = self.state(history)
        x = self._inputs(state, candidates, now)
        q, q_hidden = self._queries(x.cand_rows)  # (C, A), (C, hidden); row -1 is the unknown-item row
        pre = q_hidden + x.features @ self._w1_feat  # (C, hidden), the bias included
        if x.hist:
            _, k, v = self._keys_values(state, x.hist_recency)  # the keys come scaled by 1 / sqrt(A)
            weights = q @ k.T  # (C, H) the logits, then in place their softmax
            weights -= weights.max(axis=1, keepdims=True)
            np.exp(weights, out=weights)
            weights /= weights.sum(axis=1, keepdims=True)
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

    def _keys_values(self, state: UserState, recency: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(recency, keys (H, A), values (H, A)) of the state's attention window with these recency buckets: the
        last request's while its buckets hold (an age crosses a bucket's bound rarely: they are log2 days)."""
        kv = state.kv
        if kv is None or not np.array_equal(kv[0], recency):
            types = state.hist_types
            k, v = self._keys_of(state.hist_rows)
            k = (k + self._type_k[types] + self._rec_k[recency]) * self._scale
            v = v + self._type_v[types] + self._rec_v[recency]
            kv = state.kv = (recency, k, v)  # one assignment: a thread reading it meanwhile sees old or new
        return kv

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
        return Scored._pending_all(candidates, score_list, order, explainer)
