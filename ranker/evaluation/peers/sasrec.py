"""SASRec (Kang & McAuley, 2018): causal self-attention over the item-ID sequence with learned positions; the
state at each position scores the next item against the item table (tied with the input), here with
cross-entropy over the whole catalog (:class:`.nets.SequenceNet`; the full-softmax loss later work, e.g. gSASRec,
found better than the paper's one sampled negative).

As in the paper and its reference implementations: item vectors scaled by sqrt(D) plus a learned position vector
(positions 1..L counted within the left-padded window, 0 = padding), dropout, ``blocks`` of attention and a
point-wise feed-forward layer, each with a residual connection (layer norm first), and a final layer norm.
A position attends to itself and the real items before it, never to the future or to padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ranker.evaluation.peers.nets import SequenceNet, item_table


@dataclass(frozen=True)
class SasRecConfig:
    n_items: int
    dim: int = 64
    max_length: int = 50
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.2
    batch_size: int = 128


class _Block(nn.Module):
    """Pre-norm self-attention and feed-forward, each added to its input."""

    def __init__(self, config: SasRecConfig):
        super().__init__()
        d = config.dim
        self.attention_norm = nn.LayerNorm(d, eps=1e-8)
        self.attention = nn.MultiheadAttention(d, config.heads, dropout=config.dropout, batch_first=True)
        self.forward_norm = nn.LayerNorm(d, eps=1e-8)
        self.feed_forward = nn.Sequential(
            nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(4 * d, d), nn.Dropout(config.dropout)
        )

    def forward(self, x: torch.Tensor, blocked: torch.Tensor) -> torch.Tensor:
        h = self.attention_norm(x)
        attended, _ = self.attention(h, h, h, attn_mask=blocked, need_weights=False)
        x = x + attended
        return x + self.feed_forward(self.forward_norm(x))


class SASRec(SequenceNet):
    """Item and position embeddings -> ``blocks`` causal transformer blocks -> layer norm."""

    def __init__(self, config: SasRecConfig):
        super().__init__()
        self.config = config
        self.item_embedding = item_table(config.n_items, config.dim)
        self.position_embedding = nn.Embedding(config.max_length + 1, config.dim, padding_idx=0)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.blocks))
        self.final_norm = nn.LayerNorm(config.dim, eps=1e-8)

    def _blocked(self, seq: torch.Tensor) -> torch.Tensor:
        """(B * heads, L, L) True where query i may not attend key j: j after i, or j padding (other than i
        itself, so that a padding position attends to something and no softmax row is empty)."""
        length = seq.shape[1]
        eye = torch.eye(length, dtype=torch.bool, device=seq.device)
        future = torch.triu(torch.ones(length, length, dtype=torch.bool, device=seq.device), diagonal=1)
        padding = (seq == 0)[:, None, :] & ~eye  # (B, L, L)
        return (future | padding).repeat_interleave(self.config.heads, dim=0)

    def hidden(self, seq: torch.Tensor) -> torch.Tensor:
        seq = seq[:, -self.config.max_length :]
        length = seq.shape[1]
        positions = torch.arange(1, length + 1, device=seq.device).expand_as(seq) * (seq > 0)
        x = self.item_embedding(seq) * self.config.dim**0.5 + self.position_embedding(positions)  # (B, L, D)
        x = self.dropout(x)
        blocked = self._blocked(seq)
        for block in self.blocks:
            x = block(x, blocked)
        return self.final_norm(x)  # (B, L, D)
