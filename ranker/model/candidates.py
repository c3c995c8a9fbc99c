"""The candidate pool of a user's recommendations: the one pooling that /v1/recommend ranks and that
`recadmin evaluate` measures, so the evaluation scores exactly what the service serves.

For a user's history (newest first) the pool is the union, each item once, of

1. **k-NN from the index** on the user's history vector (:func:`ranker.model.features.history_mean` of the items in
   the model's attention window), ``size`` items, already-bought items filtered out in the query when they are not
   eligible;
1b. **k-NN in the learned space** (when the model has a sequence model and the index holds its item vectors): the
   user's vector of the sequence model as the query over the items' ``behaviour_vector`` field, ``size`` items;
2. **the user's own items** (any event type), newest first, ``size`` at most, when already-bought items are eligible
   (repeat purchases);
3. **co-purchases** of the history (the model's co-occurrence counts, :meth:`Scorer.companions`), ``size``;
4. **what sells now** (the model's trend counts, :meth:`Scorer.trending`), ``size``.

Items the catalog marks not recommendable (postage, fees: :attr:`ranker.model.item_vectors.ItemVectors.recommendable`)
are never candidates: the k-NN query filters them in OpenSearch (so they take none of its ``size`` places), the
model's companions and trending lists skip them, and the user's own items drop them; they still count in the history
vector. Items without a vector are left out. Every candidate's retrieval score is its cosine with the history
vector: the score the model saw in training (:func:`ranker.training.examples.retrieval_proxy`), whatever source
found it. Without a model the pool is the k-NN and own items only, over the newest ``window`` history items.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ranker.model.features import history_mean
from ranker.model.scoring import Candidate, HistoryEntry, Scorer


class NeighbourSearch(Protocol):
    """k-NN over the items index (the service's OpenSearch client, the evaluation's)."""

    def knn_ids(self, vector: Sequence[float], k: int, exclude: Collection[str]) -> list[str]:
        """The ids of the ``k`` items nearest to ``vector``, best first, none of ``exclude`` and none marked not
        recommendable (filtered in the query)."""
        ...


class VectorTable(Protocol):
    """Item vectors by id (:class:`ranker.model.item_vectors.ItemVectors`)."""

    def get(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """((len(ids), dim) float32 vectors, bool mask of the ids that are known)."""
        ...

    def unrecommendable(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` marked not recommendable."""
        ...


@dataclass
class Pool:
    """The pooled candidates, best retrieval score first, and the history vector they were scored against (None
    when no history item has a vector: nothing to retrieve with)."""

    candidates: list[Candidate]
    vector: np.ndarray | None


#: Runs a pool's learned-space k-NN beside its text k-NN (threads: the work is waiting on OpenSearch).
_KNN = ThreadPoolExecutor(max_workers=8, thread_name_prefix="learned-knn")


def history_vector(history: Sequence[HistoryEntry], vectors: VectorTable, length: int) -> np.ndarray | None:
    """The unit-length mean vector of the newest ``length`` history items (repeats count), None when none has a
    vector."""
    found, known = vectors.get([h.item_id for h in history[:length]])
    return history_mean(found, known) if known.any() else None


def retrieval_scores(ids: Sequence[str], vectors: VectorTable, vector: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Each item's cosine with the history ``vector`` (the retrieval feature's input), and which items have a
    vector at all."""
    found, known = vectors.get(list(ids))
    return (found @ vector / np.maximum(np.linalg.norm(found, axis=1), 1e-9)).tolist(), known


def candidate_pool(
    history: Sequence[HistoryEntry],
    search: NeighbourSearch,
    vectors: VectorTable,
    *,
    model: Scorer | None,
    size: int,
    window: int,
    include_purchased: bool,
    exclude: Collection[str] = (),
    learned: NeighbourSearch | None = None,
) -> Pool:
    """The candidates to rank for a user with ``history`` (newest first).

    ``model``: the served ranker (its attention window and statistics); ``window``: the history length used when
    there is none. ``include_purchased`` False leaves out the items the history has a purchase of; ``exclude`` leaves
    out more. ``learned``: k-NN over the items' vectors of the model's sequence model (the index's
    ``behaviour_vector`` field), queried with the user's vector of that model."""
    vector = history_vector(history, vectors, model.config.history_length if model is not None else window)
    if vector is None:
        return Pool([], None)
    banned = set(exclude) if include_purchased else set(exclude) | {h.item_id for h in history if h.type == "purchase"}
    user = model.user_vector(history) if model is not None and learned is not None else None
    # The two k-NN queries are independent: the learned one runs while the text one does (two round trips to
    # OpenSearch in the time of one).
    learned_ids = _KNN.submit(learned.knn_ids, user.tolist(), size, banned) if user is not None else None
    ids = search.knn_ids(vector.tolist(), size, banned)
    if learned_ids is not None:
        ids += learned_ids.result()
    if include_purchased:
        ids += list(dict.fromkeys(h.item_id for h in history))[:size]
    if model is not None:
        ids += model.companions(history, size) + model.trending(size)
    ids = list(dict.fromkeys(ids))
    banned |= vectors.unrecommendable(ids)  # the k-NN's are filtered already; own items and the model's may not be
    ids = [i for i in ids if i not in banned]
    scores, known = retrieval_scores(ids, vectors, vector)
    # Items without a vector (gone from the index since the model or the table was loaded) are left out; ties keep
    # the sources' order.
    order = sorted(np.flatnonzero(known).tolist(), key=lambda n: -scores[n])
    return Pool([Candidate(ids[n], scores[n]) for n in order], vector)
