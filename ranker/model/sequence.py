"""The sequence model: causal self-attention over a user's ordered history (the SASRec family), and the learned
item space it scores in. Only the model: :mod:`ranker.training.sequence` trains it, :mod:`ranker.model.behaviour`
serves it.

An item is its learned id embedding plus a learned projection of its text vector (the enriched text where the
index has one), so an item that nobody bought yet still has a place in the space, from its text. A history position
is its item plus a learned position embedding (counted back from the newest event) plus the embedding of the time
gap since the event before it (log-bucketed hours; 0 inside a basket). Transformer layers with a causal mask turn
the positions into hidden states; the newest one is the user vector, and an item's score for the user is the dot
product of the two. Trained with a softmax over the whole catalog (SASRec with cross-entropy, as gSASRec and
"turning dross into gold" recommend over sampled binary losses).

Shapes: B users, L history positions (oldest .. newest, left-padded), N catalog items, D model width, T text dim.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

#: Row 0 of the id embedding is padding; item row r of the catalog is id row r + 1.
PAD = 0


@dataclass
class SequenceConfig:
    """Everything that rebuilds a :class:`SequenceModel` (stored in the checkpoint)."""

    items: int  # catalog items the id embedding has rows for (the training catalog)
    text_dim: int  # dimension of the items' text vectors (0: ids only)
    dim: int = 64
    layers: int = 2
    heads: int = 2
    max_length: int = 50
    dropout: float = 0.2
    #: Gap buckets: floor(log2(1 + hours since the event before)), the last one open-ended (~1 year).
    gap_buckets: int = 14

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SequenceConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def gap_buckets(hours: np.ndarray, buckets: int) -> np.ndarray:
    """floor(log2(1 + hours)), clipped to [0, buckets - 1]; 0 for the first event and inside a basket."""
    h = np.maximum(np.asarray(hours, dtype=np.float64), 0.0)
    return np.minimum(np.floor(np.log2(1.0 + h)), buckets - 1).astype(np.int64)


class Block(nn.Module):
    """Pre-norm multi-head self-attention and feed-forward; padded positions kept at zero after each (as SASRec)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.feed = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.dropout = nn.Dropout(dropout)
        self.attention_dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D); allowed: (B, 1, L, L) True where a position may look; real: (B, L, 1)."""
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        drop = self.attention_dropout if self.training else 0.0
        attended = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=drop)
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(b, length, d)))
        x = x + self.dropout(self.feed(self.norm2(x)))
        return x * real


class SequenceModel(nn.Module):
    """The user encoder and the item space."""

    def __init__(self, config: SequenceConfig):
        super().__init__()
        self.config = config
        d = config.dim
        # Zero-initialised: an item's id part grows only from its own events, so an item never trained stays at its
        # text projection (the cold-start item vector) instead of a random point.
        self.item_ids = nn.Embedding(config.items + 1, d, padding_idx=PAD)
        nn.init.zeros_(self.item_ids.weight)
        self.text = nn.Linear(config.text_dim, d) if config.text_dim else None
        self.positions = nn.Embedding(config.max_length, d)
        self.gaps = nn.Embedding(config.gap_buckets, d)
        for emb in (self.positions, self.gaps):
            nn.init.normal_(emb.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(d, config.heads, config.dropout) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)

    def item_table(self, text: torch.Tensor | None, ids: torch.Tensor | None = None) -> torch.Tensor:
        """(N + 1, D) vectors of every catalog item (row 0: padding, zeros): id embedding + projected text.

        ``text``: (N, T) the items' text vectors; ``ids``: (N,) the id-embedding row of each item (0 for an item
        the model was not trained with), default: item r is row r + 1."""
        n = self.config.items if text is None else len(text)
        rows = torch.arange(1, n + 1, device=self.item_ids.weight.device) if ids is None else ids
        table = self.item_ids(rows)
        if self.text is not None and text is not None:
            table = table + self.text(text)
        return torch.cat([torch.zeros_like(table[:1]), table])

    def encode(self, table: torch.Tensor, rows: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """(B, L, D) hidden states of histories given as item-table rows (0: padding) and gap buckets, (B, L) each,
        oldest .. newest and left-padded; position l sees positions <= l only."""
        length = rows.shape[1]
        real = rows != PAD
        # Positions count back from the newest event, so a user's latest behaviour always meets the same embedding.
        back = (real.long().flip(1).cumsum(1).flip(1) - 1).clamp(min=0, max=self.config.max_length - 1)
        x = table[rows] * (self.config.dim**0.5) + self.positions(back) + self.gaps(gaps)
        keep = real.unsqueeze(-1).to(x.dtype)
        x = self.dropout(x) * keep
        earlier = torch.tril(torch.ones(length, length, dtype=torch.bool, device=rows.device))
        own = torch.eye(length, dtype=torch.bool, device=rows.device)
        # A position looks at itself and at earlier real positions: never ahead, never at padding (and no row is
        # empty, so no attention row is undefined).
        allowed = (earlier & real[:, None, :]) | own  # (B, L, L)
        allowed = allowed[:, None]  # one mask for every head
        for block in self.blocks:
            x = block(x, allowed, keep)
        return self.norm(x) * keep

    def user_vectors(self, table: torch.Tensor, rows: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """(B, D): the hidden state of each history's newest position (histories are left-padded)."""
        return self.encode(table, rows, gaps)[:, -1]
