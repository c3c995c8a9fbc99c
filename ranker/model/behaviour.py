"""The learned item space at serving time: a trained sequence model aligned with the live catalog's item table.

Every item of the table gets its vector (its learned id vector when the model was trained with it, plus the
projection of its text vector: a new item has the text part alone), and a user's history (newest first, as the
profile store gives it) becomes the user vector: the hidden state of the newest of their ``max_length`` newest
events. An item's score for the user is the dot product of the two: the query of OpenSearch k-NN over the items'
``behaviour_vector`` field (inner product), and one of the ranker's features.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ranker.model.checkpoint import SequencePart
from ranker.model.item_vectors import ItemVectors
from ranker.model.sequence import gap_buckets
from ranker.model.user_encoder import UserEncoder

if TYPE_CHECKING:
    import torch

    from ranker.model.scoring import HistoryEntry

#: Items whose learned vectors are computed at once when a scorer loads.
_CHUNK = 65_536


class BehaviourSpace:
    """A sequence model over one item table: item vectors, user vectors, scores."""

    def __init__(self, part: SequencePart, items: ItemVectors, threads: int | None = 1):
        import torch

        if threads:
            torch.set_num_threads(threads)  # one request's matrices are tiny: extra threads only add latency
        # Neither the checkpoint's part nor its model is kept: the table below and the encoder's copied weights are
        # all serving reads (the id embedding, one row per trained item, would be 256 MB at 1M items x 64).
        self.items = items
        model = part.model.eval()
        self.config = model.config
        ids = id_rows(vocabulary(part), items.ids)
        if self.config.text_dim and items.dim != self.config.text_dim:
            from core.errors import ModelError

            raise ModelError(
                f"the sequence model expects {self.config.text_dim}-dim text vectors but the index has "
                f"{items.dim}; retrain with `recadmin train` after rebuilding the index"
            )
        # Built in chunks: the text vectors are widened to float32 (they may be stored as float16) and projected a
        # chunk at a time, so a 1M-item catalog never has its temporaries whole.
        # Stored as the item vectors are (float16 for the service: 128 MB instead of 256 at 1M items x 64); rows are
        # widened to float32 when read.
        self._table_np = np.zeros((len(items) + 1, self.config.dim), dtype=items.vectors.dtype)  # row 0: padding
        with torch.inference_mode():
            for start in range(0, len(items), _CHUNK):
                stop = min(start + _CHUNK, len(items))
                text = torch.from_numpy(items.float32_rows(start, stop)) if self.config.text_dim else None
                self._table_np[start + 1 : stop + 1] = model.item_table(text, ids[start:stop])[1:].numpy()
        self._table = torch.from_numpy(self._table_np)
        self.vectors = self._table_np[1:]  # (N, D) aligned with the item table's rows
        self._encoder = UserEncoder(model)
        #: Items the model has a learned id vector for (the others are placed by their text alone).
        self.trained = (ids > 0).numpy()

    def history_arrays(self, history: Sequence[HistoryEntry]) -> tuple[np.ndarray, np.ndarray]:
        """(1, L) item rows + 1 and gap buckets of the newest ``max_length`` history items the table knows,
        oldest .. newest (the model's input); empty (1, 0) arrays without any."""
        n = self.config.max_length
        rows = self.items.rows([h.item_id for h in history[:n]])
        if len(history) > n and (rows < 0).any():  # unknown items among the newest: look further back
            rows = self.items.rows([h.item_id for h in history])
        at = np.flatnonzero(rows >= 0)[:n][::-1]  # positions in ``history`` of the known items, oldest .. newest
        if not len(at):
            return np.zeros((1, 0), dtype=np.int64), np.zeros((1, 0), dtype=np.int64)
        times = [history[i].ts for i in at.tolist()]
        before = int(at[0]) + 1  # the event just older than the oldest one read: the first gap is measured from it
        previous = [history[before].ts if before < len(history) else None, *times[:-1]]
        hours = [0.0 if p is None else (t - p).total_seconds() / 3600.0 for t, p in zip(times, previous, strict=True)]
        return (rows[at] + 1)[None], gap_buckets(np.asarray([hours]), self.config.gap_buckets)

    def user_vector(self, history: Sequence[HistoryEntry]) -> np.ndarray | None:
        """(D,) the user's vector, None when no history item is in the table (the model's forward pass in numpy:
        :class:`ranker.model.user_encoder.UserEncoder`)."""
        rows, gaps = self.history_arrays(history)
        if not rows.size:
            return None
        return self._encoder(self._table_np, rows[0], gaps[0])

    def scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The user's score of the items at table ``rows`` (-1: an unknown item scores 0), float32."""
        return self._table_np[rows + 1].astype(np.float32, copy=False) @ vector  # row -1 + 1: the padding row


def vocabulary(part: SequencePart) -> dict[str, int]:
    """Item id -> its id-embedding row in ``part``'s model (row 0 is the padding)."""
    return {item: row + 1 for row, item in enumerate(part.item_ids)}


def id_rows(vocab: dict[str, int], ids: Sequence[str]) -> torch.Tensor:
    """(N,) the id-embedding row of each item (0: one the model was not trained with; its text places it)."""
    import torch

    return torch.as_tensor([vocab.get(item, 0) for item in ids], dtype=torch.long)


class SequenceItemVectors:
    """A version's learned item vectors computed a chunk at a time, for a build that writes them with each document
    (:class:`indexer.learned_field.LearnedVectors`): what :class:`BehaviourSpace` places the items at, from the
    vector each document gets, without an item table."""

    def __init__(self, part: SequencePart, version: str):
        self.model = version
        self._vocab = vocabulary(part)
        self._net = part.model.eval()
        self.dim = self._net.config.dim
        self.text_dim = self._net.config.text_dim

    def vectors(self, ids: Sequence[str], text: np.ndarray) -> np.ndarray:
        """(len(ids), dim) float32: ``model.item_table`` of these items, as the behaviour space computes it."""
        import torch

        with torch.inference_mode():
            vectors = torch.from_numpy(np.asarray(text, dtype=np.float32)) if self.text_dim else None
            return self._net.item_table(vectors, id_rows(self._vocab, ids))[1:].numpy()


class ExactNeighbours:
    """k-NN over a behaviour space in memory, by exact inner product: what the index's ``behaviour_vector`` field
    answers (its HNSW graph approximates exactly this), for the evaluation, whose models are not in the index."""

    def __init__(self, space: BehaviourSpace):
        self.space = space

    def knn_ids(self, vector: Sequence[float], k: int, exclude: Collection[str]) -> list[str]:
        """The ids of the ``k`` recommendable items of the highest score, none of ``exclude``."""
        items = self.space.items
        scores = np.where(items.recommendable, self.space.vectors @ np.asarray(vector, dtype=np.float32), -np.inf)
        rows = items.rows(list(exclude))
        scores[rows[rows >= 0]] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
        return items.ids.take(top[np.argsort(-scores[top], kind="stable")])
