"""The attention reranker: only the model (config dataclass + ``nn.Module``).

For one user and a set of candidates, each candidate's embedding is the *query*; the user's history items
(embedding + learned event-type embedding + learned recency-bucket embedding) are the *keys and values*. Scaled
dot-product attention gives a candidate-specific interest vector; a small MLP combines it with the projected
candidate and the scalar candidate features (retrieval score, popularity, price, repeat-purchase signal, ...,
see :mod:`ranker.model.features`) into one score. The attention weights say which history items drove the score.

Shapes: B batch (users), C candidates per user, H history length, D item embedding dim (any), A attention dim,
F scalar candidate features.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ranker.model.features import FEATURE_NAMES

#: Event types with their own learned embedding; index 0 is every other (custom or unknown) type.
DEFAULT_EVENT_TYPES = ("purchase", "add_to_cart", "click", "view", "search")


@dataclass
class RankerConfig:
    """Everything needed to rebuild an :class:`AttentionRanker` (stored in every checkpoint)."""

    item_dim: int = 384
    attention_dim: int = 64
    hidden_dim: int = 64
    num_features: int = 6
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES
    #: Recency buckets are log2(1 + age in days), so 13 buckets reach ~11 years; older events share the last one.
    recency_buckets: int = 13
    dropout: float = 0.1
    feature_names: tuple[str, ...] = field(default_factory=tuple)
    #: Newest history events the scalar features (repeat, co-occurrence, ...) read; attention reads fewer.
    feature_history: int = 50
    #: Newest history events attention reads. Training and serving both read these two lengths from here, so a
    #: model is always served the history it was trained on (RECSEARCH_RANKER_HISTORY_LENGTH at training time).
    history_length: int = 50

    @property
    def history_needed(self) -> int:
        """How many of a user's newest events scoring reads at most (the longer of the two windows)."""
        return max(self.feature_history, self.history_length)

    @property
    def features(self) -> tuple[str, ...]:
        """The scalar features in model-input order (older configs without names used the first ones)."""
        return self.feature_names or FEATURE_NAMES[: self.num_features]

    def to_dict(self) -> dict:
        """Plain types only, so a checkpoint loads with ``torch.load(weights_only=True)``."""
        d = asdict(self)
        d["event_types"] = list(self.event_types)
        d["feature_names"] = list(self.feature_names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RankerConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("event_types", "feature_names"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)

    def type_index(self, event_type: str) -> int:
        """Embedding row of an event type (0 for types the model was not built with)."""
        try:
            return self.event_types.index(event_type) + 1
        except ValueError:
            return 0


class AttentionRanker(nn.Module):
    """Scores candidates for a user by attention over the user's history."""

    def __init__(self, config: RankerConfig):
        super().__init__()
        self.config = config
        d, a, h = config.item_dim, config.attention_dim, config.hidden_dim
        self.query = nn.Linear(d, a)
        self.key = nn.Linear(d, a)
        self.value = nn.Linear(d, a)
        n_types = len(config.event_types) + 1
        self.type_key = nn.Embedding(n_types, a)
        self.type_value = nn.Embedding(n_types, a)
        self.recency_key = nn.Embedding(config.recency_buckets, a)
        self.recency_value = nn.Embedding(config.recency_buckets, a)
        for emb in (self.type_key, self.type_value, self.recency_key, self.recency_value):
            nn.init.normal_(emb.weight, std=0.02)
        self.dropout = nn.Dropout(config.dropout)
        # MLP input: [q, interest, q * interest, scalar features] -> (3A + F)
        self.hidden = nn.Linear(3 * a + config.num_features, h)
        self.out = nn.Linear(h, 1)

    def project_history(
        self, keys: torch.Tensor, values: torch.Tensor, types: torch.Tensor, recency: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add event-type and recency embeddings to projected history items.

        keys, values: (B, H, A) already projected by ``self.key`` / ``self.value``; types, recency: (B, H) long.
        """
        return (
            keys + self.type_key(types) + self.recency_key(recency),
            values + self.type_value(types) + self.recency_value(recency),
        )

    def score_projected(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        features: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention + MLP on projected inputs (training gathers projections of the whole item table once per step).

        q: (B, C, A); k, v: (B, H, A); features: (B, C, F); mask: (B, H) bool, True where a history slot is real.
        Returns scores (B, C) and attention weights (B, C, H) (all zero for a user without history).
        """
        logits = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # (B, C, H)
        logits = logits.masked_fill(~mask[:, None, :], -1e9)
        weights = torch.softmax(logits, dim=-1) * mask[:, None, :]  # (B, C, H); zero rows when no history
        interest = self.dropout(weights @ v)  # (B, C, A)
        x = torch.cat([q, interest, q * interest, features], dim=-1)  # (B, C, 3A + F)
        x = self.dropout(torch.relu(self.hidden(x)))  # (B, C, hidden)
        return self.out(x).squeeze(-1), weights  # (B, C), (B, C, H)

    def forward(
        self,
        candidates: torch.Tensor,
        features: torch.Tensor,
        history: torch.Tensor,
        history_types: torch.Tensor,
        history_recency: torch.Tensor,
        history_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score candidates.

        candidates: (B, C, D) item embeddings; features: (B, C, F); history: (B, H, D) item embeddings;
        history_types, history_recency: (B, H) long; history_mask: (B, H) bool.
        Returns scores (B, C) and attention weights (B, C, H).
        """
        q = self.query(candidates)  # (B, C, A)
        k, v = self.project_history(self.key(history), self.value(history), history_types, history_recency)
        return self.score_projected(q, k, v, features, history_mask)
