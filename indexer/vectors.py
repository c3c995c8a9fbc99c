"""Bring your own vectors: a catalog column holding each item's vector, used instead of embedding its text.

A shop that already has item embeddings (its own model, an image model, a vendor's) names the column with
``--vector-field NAME`` (``RECSEARCH_MODELS_VECTOR_FIELD``). A cell is a list of numbers (JSONL, Parquet), or in CSV
a JSON array (``[0.1, 0.2]``) or numbers separated by spaces or commas. Every vector of a catalog has one dimension:
the vector model's when one is named, else the first row's; a row that differs, holds a value that is not a finite
number, or is all zeros (no direction for cosine similarity) stops the build before anything is written, with one
error naming the file, the line and the column.

Such an index lives in the shop's vector space, not a text model's: a text query can only be put into it by the
model that made the vectors (``--vector-model`` / ``RECSEARCH_MODELS_VECTOR_MODEL``). Without one, text k-NN is
off: ``recadmin search`` and ``/v1/search`` answer from BM25 (the service's personal order still applies), and the
learned space and ``/v1/similar`` work as for any index. The version's ``_meta`` records ``vector_source: catalog``,
the column, and as ``embedding_model`` the vector model or :func:`catalog_space` when there is none.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.embedding import Embedder
from core.errors import ModelError

#: ``_meta.embedding_model`` of an index whose vectors came from a catalog column and no model embeds queries.
CATALOG_PREFIX = "catalog:"
_SEPARATORS = re.compile(r"[\s,]+")


def catalog_space(vector_field: str) -> str:
    """The name of a vector space that is only a catalog column (no model can embed a query into it)."""
    return f"{CATALOG_PREFIX}{vector_field}"


def is_catalog_space(model: str | None) -> bool:
    """True when an index's ``embedding_model`` says its vectors came from the catalog with no query model."""
    return bool(model) and str(model).startswith(CATALOG_PREFIX)


def parse_vector(value: Any) -> np.ndarray | None:
    """A cell as float32 numbers; None when empty. Raises ``ValueError`` saying what is wrong with it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"not a JSON array of numbers ({e.msg})") from None
        else:
            value = _SEPARATORS.split(text.strip(" ,"))
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        numbers = value.astype(np.float32, copy=False).ravel()
    else:
        if not isinstance(value, list | tuple | np.ndarray):
            raise ValueError(f"not a list of numbers: {str(value)[:40]!r}")
        try:
            numbers = np.asarray([float(x) for x in value], dtype=np.float32)
        except (TypeError, ValueError):
            bad = next((x for x in value if not _is_number(x)), None)
            raise ValueError(f"not a number in the vector: {str(bad)[:40]!r}") from None
    if numbers.size == 0:
        return None
    if not np.isfinite(numbers).all():
        position = int(np.flatnonzero(~np.isfinite(numbers))[0])
        raise ValueError(f"value {position} is not a finite number ({numbers[position]})")
    if not numbers.any():
        raise ValueError("all zeros (a zero vector has no direction for cosine similarity)")
    return numbers


def _is_number(x: Any) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


class CatalogVectors:
    """The build's embedder for a catalog with its own vectors: items carry theirs (:attr:`Item.vector`); an item
    without one is embedded by ``model`` (the vector model, same space), and without a model none may lack one.

    ``name`` is what the version's ``_meta.embedding_model`` records: the model that embeds queries into this
    space, or :func:`catalog_space` when there is none."""

    def __init__(self, vector_field: str, dimension: int, model: Embedder | None = None):
        self.vector_field = vector_field
        self.dimension = dimension
        self.model = model
        self.name = model.name if model is not None else catalog_space(vector_field)

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self.model is None:
            raise ModelError(
                f"{len(texts)} items have no vector in column '{self.vector_field}' and no vector model embeds text "
                "into this space (set RECSEARCH_MODELS_VECTOR_MODEL or --vector-model)"
            )
        return self.model.encode(texts, batch_size)


class NoQueryModel:
    """The query side of a catalog space (:func:`catalog_space`): no model puts a text into it. The service holds
    this as its embedder for such an index: it answers text queries from BM25 instead (a request may still bring
    its own ``vector``)."""

    def __init__(self, space: str, dimension: int | None):
        self.name = space
        self.dimension = dimension

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        raise ModelError(f"no model embeds a text query into the space '{self.name}' (RECSEARCH_MODELS_VECTOR_MODEL)")
