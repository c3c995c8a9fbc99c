"""BPR matrix factorisation (Rendle et al., 2009): a user vector and an item vector, score = their dot product,
trained on (user, bought item, sampled item) triples to rank the bought item above the sampled one.

A user without a training event (e.g. new since a time split's validation slice) is folded in: their query is the
mean of the vectors of their trained history items.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ranker.evaluation.peers.data import PeerData, shuffled_batches
from ranker.evaluation.peers.nets import PeerNet


@dataclass(frozen=True)
class BprConfig:
    n_users: int
    n_items: int
    dim: int = 64
    #: Triples per step: BPR steps are cheap, so large batches.
    batch_size: int = 2048


class BPR(PeerNet):
    """User and item ID embeddings. Its query input is (B, 1 + L): the user's index (-1 when BPR never saw the
    user) followed by their history's item rows (left-padded with 0), read only for unknown users."""

    feeds = "users"

    def __init__(self, config: BprConfig):
        super().__init__()
        self.config = config
        self.user_embedding = nn.Embedding(config.n_users, config.dim)
        self.item_embedding = nn.Embedding(config.n_items + 1, config.dim, padding_idx=0)
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def query(self, inputs: torch.Tensor) -> torch.Tensor:
        users, known = inputs[:, 0], inputs[:, 0] >= 0
        out = self.fold_in(inputs[:, 1:])  # (B, D)
        out[known] = self.user_embedding(users[known])
        return out

    def fold_in(self, history_rows: torch.Tensor) -> torch.Tensor:
        """(B, L) item rows (0 = none) -> (B, D) the mean of their vectors: the query of a user BPR never saw."""
        vectors = self.item_embedding(history_rows)  # row 0 is zero
        count = (history_rows > 0).sum(dim=1, keepdim=True).clamp(min=1)
        return vectors.sum(dim=1) / count

    def loss(self, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """-log sigmoid(score(u, i) - score(u, j)), averaged over the batch."""
        u = self.user_embedding(users)
        diff = (u * self.item_embedding(positives)).sum(-1) - (u * self.item_embedding(negatives)).sum(-1)
        return -F.logsigmoid(diff).mean()


def bpr_batches(data: PeerData, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
    """One epoch of (users, bought rows, sampled rows): every training event once, each with one item drawn
    uniformly from the trained items (redrawn once when it is the bought one)."""
    pool = np.flatnonzero(data.trained) + 1
    negatives = pool[rng.integers(0, len(pool), size=len(data.rows))]
    same = negatives == data.rows
    negatives[same] = pool[rng.integers(0, len(pool), size=int(same.sum()))]
    yield from shuffled_batches((data.users, data.rows, negatives), batch_size, rng)
