"""GRU4Rec (Hidasi et al., 2016, in the form RecBole and later comparisons run it): a GRU over the item-ID
sequence; the state after each item, projected to the embedding width, scores the next item against the item
table (the input table, tied), with cross-entropy over the whole catalog (:class:`.nets.SequenceNet`).

Histories are left-padded: the padding row's vector is zero, so the state the GRU reaches over the padding is
the same for every sequence of the same length, a learnt start state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ranker.evaluation.peers.nets import SequenceNet, item_table


@dataclass(frozen=True)
class Gru4RecConfig:
    n_items: int
    dim: int = 64
    hidden: int = 128
    layers: int = 1
    #: On the input embeddings (RecBole's default for GRU4Rec).
    dropout: float = 0.3
    batch_size: int = 128


class GRU4Rec(SequenceNet):
    """Embedding -> dropout -> GRU -> linear to the embedding width."""

    def __init__(self, config: Gru4RecConfig):
        super().__init__()
        self.config = config
        self.item_embedding = item_table(config.n_items, config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(config.dim, config.hidden, num_layers=config.layers, batch_first=True)
        self.out = nn.Linear(config.hidden, config.dim)

    def hidden(self, seq: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.item_embedding(seq))  # (B, L, D)
        states, _ = self.gru(x)  # (B, L, H)
        return self.out(states)  # (B, L, D)
