"""Vectors for an index's texts computed locally with the model the index was built with, cached on disk.

Used when the cluster cannot return stored vectors (see :func:`ranker.evaluation.catalog.load_catalog`)."""

from __future__ import annotations

import hashlib

import numpy as np

from core.paths import vector_cache
from core.settings import Settings
from ranker.evaluation.catalog import EmbedFn


def cached_embedder(settings: Settings) -> EmbedFn:
    """An :data:`EmbedFn` that keeps each (model, texts) result under ``<state dir>/cache/vectors/``."""

    def embed(model: str, texts: list[str]) -> np.ndarray:
        digest = hashlib.sha256("\0".join([model, *texts]).encode()).hexdigest()[:20]
        path = vector_cache(settings) / f"{digest}.npy"
        if path.exists():
            return np.load(path)
        from core.embedding import embedder_for

        vectors = embedder_for(settings, model).encode(texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        return vectors

    return embed
