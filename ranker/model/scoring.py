"""In-process scoring with a trained :class:`~ranker.model.network.AttentionRanker`: history + candidates -> ranked results.

The model's forward pass is re-done in numpy with weights copied out of the checkpoint once: no autograd, no
torch dispatch per operation, so 100 candidates against 50 history items take a fraction of a millisecond on
one CPU core (``bench/bench_scoring.py``). ``tests/unit/test_scoring.py`` checks that it matches the torch model.

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
from ranker.model.checkpoint import Checkpoint
from ranker.model.features import candidate_features, recency_buckets
from ranker.model.item_vectors import ItemVectors


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


@dataclass(slots=True)
class Explanation:
    """A history item that drove a result's score, with its attention weight (0..1, summed over repeats)."""

    item_id: str
    weight: float
    type: str


class Scored:
    """A candidate with the ranker's score (higher is better) and the history items that explain it.

    ``explanations`` of a result from :meth:`Scorer.score` is built on first access, from the attention weights of
    that call: a caller that shows ten of a hundred results builds ten lists, not a hundred. Compares, prints and
    constructs like a dataclass ``Scored(id, score, retrieval_score, explanations=[])``.
    """

    __slots__ = ("id", "score", "retrieval_score", "_explanations", "_explainer", "_row")

    def __init__(
        self, id: str, score: float, retrieval_score: float, explanations: list[Explanation] | None = None
    ) -> None:
        self.id = id
        self.score = score
        self.retrieval_score = retrieval_score
        self._explanations = [] if explanations is None else explanations
        self._explainer: _Explainer | None = None
        self._row = -1

    @classmethod
    def _pending(cls, id: str, score: float, retrieval_score: float, explainer: _Explainer, row: int) -> Scored:
        out = cls.__new__(cls)
        out.id, out.score, out.retrieval_score = id, score, retrieval_score
        out._explanations, out._explainer, out._row = None, explainer, row
        return out

    @property
    def explanations(self) -> list[Explanation]:
        """The history items that drove the score, most weight first (empty for an unknown candidate)."""
        explanations = self._explanations
        if explanations is None:  # the explainer stays: another thread may be reading it at the same time
            explanations = self._explanations = self._explainer.row(self._row)
        return explanations

    @explanations.setter
    def explanations(self, value: list[Explanation]) -> None:
        self._explanations, self._explainer = value, None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scored):
            return NotImplemented
        return (self.id, self.score, self.retrieval_score, self.explanations) == (
            other.id, other.score, other.retrieval_score, other.explanations,
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        return (
            f"Scored(id={self.id!r}, score={self.score!r}, retrieval_score={self.retrieval_score!r}, "
            f"explanations={self.explanations!r})"
        )


class _Explainer:
    """The explanations of one :meth:`Scorer.score` call, worked out for every candidate at once on the first
    access of any result's ``explanations``: per candidate, the ``n`` history items with the most attention weight
    (the weights of a repeated item summed, so an item bought five times is named once; its newest event names
    the type, as the history is newest first)."""

    __slots__ = ("_weights", "_hist", "_hist_rows", "_unknown", "_n", "_done")

    def __init__(self, weights: np.ndarray, hist: list[Any], hist_rows: np.ndarray, unknown: np.ndarray, n: int):
        self._weights, self._hist, self._hist_rows, self._unknown, self._n = weights, hist, hist_rows, unknown, n
        self._done: tuple[list[list[int]], list[list[float]], list[tuple[str, str]], list[bool]] | None = None

    def row(self, c: int) -> list[Explanation]:
        """The explanations of candidate ``c`` (its position in the candidates given)."""
        done = self._done
        if done is None:
            # Set once, as one tuple: two threads reading the same results at worst both compute it.
            done = self._done = self._compute()
        top, top_w, names, unknown = done
        if unknown[c]:
            return []
        return [Explanation(names[u][0], w, names[u][1]) for u, w in zip(top[c], top_w[c]) if w > 0]

    def _compute(self) -> tuple[list[list[int]], list[list[float]], list[tuple[str, str]], list[bool]]:
        hist, weights = self._hist, self._weights
        # Distinct history items in order of first (newest) occurrence: a dict beats np.unique's sort at H ~ 50.
        slot: dict[int, int] = {}
        inverse = [slot.setdefault(r, len(slot)) for r in self._hist_rows.tolist()]
        first: list[int] = [0] * len(slot)
        for i in reversed(range(len(inverse))):
            first[inverse[i]] = i
        names = [(hist[i].item_id, hist[i].type) for i in first]
        if len(slot) < len(inverse):
            onehot = np.zeros((len(inverse), len(slot)), dtype=weights.dtype)
            onehot[np.arange(len(inverse)), inverse] = 1.0
            per_item = weights @ onehot  # (C, U)
        else:
            per_item = weights.copy()  # (C, U = H), overwritten below
        n = min(self._n, per_item.shape[1])
        # Top n per row by n argmax passes (ties: the newer item): cheaper than sorting every row for n << U.
        rows = np.arange(per_item.shape[0])
        top = np.empty((per_item.shape[0], n), dtype=np.int64)
        top_w = np.empty((per_item.shape[0], n), dtype=per_item.dtype)
        for j in range(n):
            best = per_item.argmax(axis=1)
            top[:, j] = best
            top_w[:, j] = per_item[rows, best]
            per_item[rows, best] = -1.0
        return top.tolist(), top_w.tolist(), names, self._unknown.tolist()


def _np(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


class Scorer:
    """Scores candidates for one user at a time with a loaded checkpoint and the item vectors."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        item_vectors: ItemVectors,
        *,
        history_length: int = 50,
        explanations: int = 3,
        threads: int | None = 1,
    ):
        """``threads``: BLAS threads for this process (a process-wide limit, set once; None leaves it alone).
        The matrices of one request are small, so extra threads only add hand-off latency."""
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
        self.history_length = history_length
        self.explanations = explanations
        self.stats = checkpoint.item_stats.aligned(item_vectors.ids, item_vectors.prices)
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
        self._type_index: dict[str, int] = {}
        # The projections are linear in the item vector, so they are computed once for the whole item table
        # (3.9k items: ~3 MB) and a request only gathers rows. The last row is an unknown item (zero vector).
        table = np.vstack([item_vectors.vectors, np.zeros((1, item_vectors.dim), dtype=np.float32)])
        self._q = table @ wq + bq  # (N + 1, A)
        self._q_hidden = self._q @ w1[:a]  # (N + 1, hidden): the query's share of the MLP's first layer
        self._k = table @ wk + bk  # (N + 1, A)
        self._v = table @ wv + bv  # (N + 1, A)

    def with_vectors(self, item_vectors: ItemVectors, checkpoint: Checkpoint) -> Scorer:
        """A scorer over new item vectors (after the alias moved), same model and settings."""
        return Scorer(
            checkpoint, item_vectors, history_length=self.history_length, explanations=self.explanations, threads=None
        )

    def companions(self, history: Sequence[HistoryEntry], n: int) -> list[str]:
        """Up to ``n`` items most often bought together with the user's history (the checkpoint's co-occurrence
        counts over its feature history), best first: recommendation candidates beside the k-NN ones."""
        rows = self.item_vectors.rows([h.item_id for h in history[: self.config.feature_history]])
        rows = rows[rows >= 0]
        if not len(rows) or self.stats.cooc.nnz == 0:
            return []
        sums = np.asarray(self.stats.cooc[rows].sum(axis=0)).ravel()[:-1]  # the last column is the unknown item
        top = np.argsort(-sums, kind="stable")[:n]
        return [self.item_vectors.ids[i] for i in top if sums[i] > 0]

    def trending(self, n: int) -> list[str]:
        """Up to ``n`` items that sold most in the training data's last days (the ``trend`` feature), best first."""
        trend = self.stats.trend[:-1]
        top = np.argsort(-trend, kind="stable")[:n]
        return [self.item_vectors.ids[i] for i in top if trend[i] > 0]

    def _types(self, types: Sequence[str]) -> np.ndarray:
        cache = self._type_index
        out = []
        for t in types:
            idx = cache.get(t)
            if idx is None:
                idx = cache[t] = self.config.type_index(t)
            out.append(idx)
        return np.asarray(out, dtype=np.int64)

    def _ages_days(self, history: Sequence[Any], now: datetime) -> np.ndarray:
        # Naive timestamps are UTC throughout the project: compare them with a naive "now" (no per-item replace).
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        naive_now = now.replace(tzinfo=None) - (now.utcoffset() or timedelta(0))
        seconds = [
            0.0 if (ts := getattr(h, "ts", None)) is None else ((now if ts.tzinfo else naive_now) - ts).total_seconds()
            for h in history
        ]
        return np.asarray(seconds, dtype=np.float64) / 86400.0

    def score(
        self, history: Sequence[HistoryEntry], candidates: Sequence[Candidate], now: datetime | None = None
    ) -> list[Scored]:
        """Every candidate scored and sorted by score (ties keep the order given), with explanations.

        ``history`` is newest first: attention reads the first ``history_length`` entries, the repeat and
        co-occurrence features the first ``feature_history`` of the checkpoint's config; ``now`` (default: the
        current UTC time) is what the recency of each history item is measured from.
        """
        if not candidates:
            return []
        vectors = self.item_vectors
        # The features read the longer history (the checkpoint's feature_history), attention its newest part.
        window = list(history[: max(self.config.feature_history, self.history_length)])
        rows = vectors.rows([h.item_id for h in window])
        found = rows >= 0
        known = [h for h, f in zip(window, found.tolist()) if f]  # items of the table only, newest first
        known_rows = rows[found]
        n_attend = int(found[: self.history_length].sum())
        feat_hist = known[: self.config.feature_history]
        hist = known[:n_attend]
        ages = self._ages_days(known, now or datetime.now(UTC)) if known else np.zeros(0)
        hist_rows = known_rows[:n_attend]  # (H,)
        cand_rows = vectors.rows([c.id for c in candidates])  # (C,)
        retrieval = np.fromiter((c.retrieval_score for c in candidates), dtype=np.float32, count=len(candidates))
        unknown = cand_rows < 0
        q = self._q[cand_rows]  # (C, A); row -1 is the unknown-item row
        n_feat = len(feat_hist)
        feats = candidate_features(
            retrieval[None], cand_rows[None], known_rows[None, :n_feat], np.ones((1, n_feat), dtype=bool),
            self.stats, ages[None, :n_feat], self.config.features,
        )[0]  # (C, F)  # fmt: skip
        pre = self._q_hidden[cand_rows] + feats @ self._w1_feat + self._b1  # (C, hidden)
        if hist:
            types = self._types([h.type for h in hist])
            rec = recency_buckets(ages[:n_attend], self.config.recency_buckets)
            k = self._k[hist_rows] + self._type_k[types] + self._rec_k[rec]  # (H, A)
            v = self._v[hist_rows] + self._type_v[types] + self._rec_v[rec]  # (H, A)
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
        return self._results(candidates, scores, weights, hist, hist_rows, unknown)

    def _results(
        self,
        candidates: Sequence[Candidate],
        scores: np.ndarray,
        weights: np.ndarray,
        hist: list[Any],
        hist_rows: np.ndarray,
        unknown: np.ndarray,
    ) -> list[Scored]:
        # Sorting is all the scoring call does here: the explanations are worked out when first read.
        order = np.argsort(-scores, kind="stable").tolist()
        score_list = scores.tolist()
        n = min(self.explanations, len(hist))
        if not n:
            return [Scored(candidates[c].id, score_list[c], candidates[c].retrieval_score) for c in order]
        explainer = _Explainer(weights, hist, hist_rows, unknown, n)
        pending = Scored._pending
        return [
            pending((cand := candidates[c]).id, score_list[c], cand.retrieval_score, explainer, c) for c in order
        ]
