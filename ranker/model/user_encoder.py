"""The sequence model's user vector for one history, in numpy: what :meth:`SequenceModel.user_vectors` computes, at
a fraction of torch's per-call cost.

One request encodes one history of at most ``max_length`` events (50): the matrices are tiny and torch's dispatch
and allocation cost more than the arithmetic (1.3 ms of a 2.3 ms scoring call). This is the same forward pass in
eval mode (no dropout, no padding: a single history is never padded), with two savings: the last block computes its
attention and feed-forward for the newest position only (the only hidden state the user vector reads), and the
final layer norm likewise. tests/unit/ranker/model/test_user_encoder.py holds it equal to the torch
model.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import erf

from ranker.model.sequence import SequenceModel

#: torch.nn.LayerNorm's default epsilon, which the model uses.
EPS = np.float32(1e-5)


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    # The means as products with a (D, 1) column of 1/D: fewer numpy calls than .mean()/.var() (a third faster at
    # these sizes, where each call's overhead outweighs its arithmetic).
    average = _averager(x.shape[-1])
    centred = x - x @ average
    scale = (centred * centred) @ average
    scale += EPS
    np.sqrt(scale, out=scale)
    centred /= scale
    centred *= weight
    centred += bias
    return centred


@functools.cache
def _averager(d: int) -> np.ndarray:
    return np.full((d, 1), 1.0 / d, dtype=np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


class _Block:
    def __init__(self, block, heads: int, max_length: int):
        self.heads = heads
        #: Added to the attention logits: -inf where a position would look ahead.
        self.causal = np.triu(np.full((max_length, max_length), -np.inf, dtype=np.float32), k=1)
        self.n1 = (_np(block.norm1.weight), _np(block.norm1.bias))
        self.n2 = (_np(block.norm2.weight), _np(block.norm2.bias))
        self.w_qkv, self.b_qkv = _np(block.qkv.weight).T.copy(), _np(block.qkv.bias)
        self.w_out, self.b_out = _np(block.out.weight).T.copy(), _np(block.out.bias)
        first, second = block.feed[0], block.feed[3]
        self.w_f1, self.b_f1 = _np(first.weight).T.copy(), _np(first.bias)
        self.w_f2, self.b_f2 = _np(second.weight).T.copy(), _np(second.bias)

    def __call__(self, x: np.ndarray, last_only: bool) -> np.ndarray:
        """x: (L, D) one history, oldest .. newest; causal attention. ``last_only``: (1, D) for the newest
        position (the others are not needed after the last block)."""
        length, d = x.shape
        h, dh = self.heads, d // self.heads
        qkv = (_norm(x, *self.n1) @ self.w_qkv + self.b_qkv).reshape(length, 3, h, dh)
        q, k, v = qkv[:, 0].transpose(1, 0, 2), qkv[:, 1].transpose(1, 0, 2), qkv[:, 2].transpose(1, 0, 2)  # (H, L, dh)
        if last_only:
            q = q[:, -1:]
        logits = (q @ k.transpose(0, 2, 1)) / np.float32(np.sqrt(dh))  # (H, Q, L)
        if not last_only:
            logits += self.causal[:length, :length]
        logits -= logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=-1, keepdims=True)
        attended = (weights @ v).transpose(1, 0, 2).reshape(-1, d)  # (Q, D)
        x = (x[-1:] if last_only else x) + attended @ self.w_out + self.b_out
        return x + _gelu(_norm(x, *self.n2) @ self.w_f1 + self.b_f1) @ self.w_f2 + self.b_f2


class UserEncoder:
    """:meth:`SequenceModel.user_vectors` for one unpadded history, in numpy (eval mode)."""

    def __init__(self, model: SequenceModel):
        config = model.config
        self.scale = np.float32(config.dim**0.5)
        self.max_length = config.max_length
        self.positions, self.gaps = _np(model.positions.weight), _np(model.gaps.weight)
        self.blocks = [_Block(b, config.heads, config.max_length) for b in model.blocks]
        self.norm = (_np(model.norm.weight), _np(model.norm.bias))

    def __call__(self, table: np.ndarray, rows: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        """(D,) the user vector of one history: ``rows`` (L,) item-table rows (1-based: row 0 is padding) and
        ``gaps`` (L,) gap buckets, oldest .. newest, 1 <= L <= max_length."""
        length = len(rows)
        back = np.arange(length - 1, -1, -1)  # positions count back from the newest event
        x = table[rows].astype(np.float32, copy=False) * self.scale + self.positions[back] + self.gaps[gaps]
        for n, block in enumerate(self.blocks):
            x = block(x, last_only=n == len(self.blocks) - 1)
        if not self.blocks:
            x = x[-1:]
        return _norm(x, *self.norm)[0].astype(np.float32)
