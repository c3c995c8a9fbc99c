"""Explanations of a ranked result: the history items that drove its score (the ranker's attention weights, or the
affinity of the candidate with each history item in the sequence model's learned item space).

A :class:`Scored` result builds its explanations on first access, from the attention weights of the scoring call
that made it (:class:`Explainer`): a caller that shows ten of a hundred results builds ten lists, not a hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


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

    __slots__ = ("_explainer", "_explanations", "_row", "id", "retrieval_score", "score")

    def __init__(
        self, id: str, score: float, retrieval_score: float, explanations: list[Explanation] | None = None
    ) -> None:
        self.id = id
        self.score = score
        self.retrieval_score = retrieval_score
        self._explanations = [] if explanations is None else explanations
        self._explainer: Explainer | None = None
        self._row = -1

    @classmethod
    def _pending(cls, id: str, score: float, retrieval_score: float, explainer: Explainer, row: int) -> Scored:
        out = cls.__new__(cls)
        out.id, out.score, out.retrieval_score = id, score, retrieval_score
        out._explanations, out._explainer, out._row = None, explainer, row
        return out

    @classmethod
    def _pending_all(
        cls, candidates: Sequence[Any], scores: list[float], order: list[int], explainer: Explainer
    ) -> list[Scored]:
        """``_pending`` for every candidate (``.id``, ``.retrieval_score``) in ``order``, in one loop: a function
        call per result was a tenth of a scoring call."""
        new = cls.__new__
        out = []
        for c in order:
            r = new(cls)
            cand = candidates[c]
            r.id, r.score, r.retrieval_score = cand.id, scores[c], cand.retrieval_score
            r._explanations, r._explainer, r._row = None, explainer, c
            out.append(r)
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


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float32, copy=False)  # a float16 table (the service's) is normalised in float32
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def affinity_weights(vectors: np.ndarray, cand_rows: np.ndarray, hist_rows: np.ndarray) -> np.ndarray:
    """(C, H): per candidate, a softmax over the history of the candidate's cosine with each history item in a
    learned item space (``vectors``, rows of the item table): the history items that, in the shop's behaviour, go
    with that candidate most. Cosine, not the inner product: a popular item's long vector would otherwise be
    "nearest" to every candidate and explain every result. Scaled by sqrt(dim), so unrelated items (cosine
    ~ +-1/sqrt(dim)) differ by about one logit and a close item stands out. Unknown candidates (row -1) get zeros."""
    cand, hist = _unit(vectors[np.maximum(cand_rows, 0)]), _unit(vectors[hist_rows])
    logits = (cand @ hist.T) * np.float32(np.sqrt(vectors.shape[1]))  # (C, H)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=1, keepdims=True)
    weights[cand_rows < 0] = 0.0
    return weights


class Explainer:
    """The explanations of one :meth:`Scorer.score` call, worked out for every candidate at once on the first
    access of any result's ``explanations``: per candidate, the ``n`` history items with the most weight (the
    weights of a repeated item summed, so an item bought five times is named once; its newest event names the
    type, as the history is newest first).

    The weights: the ranker's attention weights; or, when ``space`` is given (the learned item vectors of the
    model's sequence model with the candidates' rows), :func:`affinity_weights`, which tell candidates apart where
    the ranker's attention, spread over the whole history, names the same items for every result. ``hidden``: the
    history positions never to name (items the catalog marks not recommendable: "because you bought POSTAGE" explains
    nothing)."""

    __slots__ = ("_done", "_hidden", "_hist", "_hist_rows", "_n", "_space", "_unknown", "_weights")

    def __init__(
        self,
        weights: np.ndarray,
        hist: list[Any],
        hist_rows: np.ndarray,
        unknown: np.ndarray,
        n: int,
        space: tuple[np.ndarray, np.ndarray] | None = None,
        hidden: np.ndarray | None = None,
    ):
        self._weights, self._hist, self._hist_rows, self._unknown, self._n = weights, hist, hist_rows, unknown, n
        self._space, self._hidden = space, hidden
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
        return [Explanation(names[u][0], w, names[u][1]) for u, w in zip(top[c], top_w[c], strict=True) if w > 0]

    def _compute(self) -> tuple[list[list[int]], list[list[float]], list[tuple[str, str]], list[bool]]:
        hist, weights = self._hist, self._weights
        if self._space is not None:
            vectors, cand_rows = self._space
            weights = affinity_weights(vectors, cand_rows, self._hist_rows).astype(weights.dtype)
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
        if self._hidden is not None and self._hidden.any():
            per_item[:, [u for u, i in enumerate(first) if self._hidden[i]]] = 0.0  # never named
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
