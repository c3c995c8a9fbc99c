"""A deterministic stand-in for the sentence-transformers embedder (unit tests and quick integration tests)."""

from __future__ import annotations

import zlib

import numpy as np


class HashEmbedder:
    """A deterministic fake embedder for unit tests: bag of hashed words, L2-normalised."""

    name = "fake-hash"

    def __init__(self, dimension: int = 16):
        self.dimension = dimension

    def encode(self, texts, batch_size=None):
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.encode()) % self.dimension] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-9)
        return out
