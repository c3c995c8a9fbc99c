"""What every peer network shares: an item table whose rows line up with the catalog, a query per case, and a
training loss. The loop (:mod:`.loop`) and the recommender (:mod:`.recommender`) see only this interface; the
networks differ in how they form the query.

* :class:`PeerNet` — ``item_embedding`` (catalog size + 1, D) with row 0 the padding; ``query(inputs)`` (B, D);
  ``loss(*batch)``; ``feeds``: what its inputs are, ``users`` (a user index per case) or ``sequences`` (item rows,
  left-padded, newest last).
* :class:`SequenceNet` — a :class:`PeerNet` over item sequences: ``hidden(seq)`` gives a state per position; the
  loss is cross-entropy of each position's next item over the whole catalog (no sampled negatives), the query the
  state at the newest position.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F


def item_table(n_items: int, dim: int) -> nn.Embedding:
    """The item embedding of a peer: row 0 the padding (zeros), the catalog's items after it, N(0, 1/dim)."""
    table = nn.Embedding(n_items + 1, dim, padding_idx=0)
    nn.init.normal_(table.weight, std=dim**-0.5)
    with torch.no_grad():
        table.weight[0].zero_()
    return table


class PeerNet(nn.Module):
    """A peer's network: a query vector per case scored against the item table."""

    feeds: ClassVar[str] = "users"
    item_embedding: nn.Embedding

    def query(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, D) one vector per case."""
        raise NotImplementedError

    def loss(self, *batch: torch.Tensor) -> torch.Tensor:
        """The training loss of one batch (a scalar)."""
        raise NotImplementedError

    def scores(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, catalog size) the score of every catalog item for each case."""
        return self.query(inputs) @ self.item_embedding.weight[1:].T


class SequenceNet(PeerNet):
    """A network over item-row sequences, trained with a full softmax over the catalog at every position."""

    feeds: ClassVar[str] = "sequences"

    def hidden(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) item rows, 0 = padding on the left -> (B, L, D) the state after each position."""
        raise NotImplementedError

    def query(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.hidden(inputs)[:, -1]

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the next item at each non-padding position, over every catalog item."""
        states = self.hidden(inputs)  # (B, L, D)
        real = targets > 0
        logits = states[real] @ self.item_embedding.weight[1:].T  # (positions, N)
        return F.cross_entropy(logits, targets[real] - 1)
