"""Vectors for an index's texts computed locally with the model the index was built with, cached on disk.

Used when the cluster cannot return stored vectors (see :func:`ranker.evaluation.catalog.load_catalog`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from core.settings import Settings
from ranker.evaluation.catalog import EmbedFn


def model_spec(settings: Settings, name: str) -> str:
    """A loadable model spec for the name an index records: a spec, a folder, or a fine-tuned version."""
    version_dir = Path(settings.state_dir) / "models" / "embedding" / name
    return str(version_dir) if version_dir.is_dir() else name


def cached_embedder(settings: Settings) -> EmbedFn:
    """An :data:`EmbedFn` that keeps each (model, texts) result under ``<state dir>/cache/vectors/``."""

    def embed(model: str, texts: list[str]) -> np.ndarray:
        digest = hashlib.sha256("\0".join([model, *texts]).encode()).hexdigest()[:20]
        path = Path(settings.state_dir) / "cache" / "vectors" / f"{digest}.npy"
        if path.exists():
            return np.load(path)
        from core.embedding import load_embedder

        m = settings.models
        vectors = load_embedder(model_spec(settings, model), m.device, m.embedding_batch_size).encode(texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        return vectors

    return embed
