"""The ``behaviour_vector`` field of an index version: its mapping, the ``_meta`` keys naming whose vectors it holds,
and the interface of what computes them.

The vectors are a ranker model's (its sequence model places each item from its learned id vector and its text
vector), but the indexer does not import the ranker: a caller that has an active model passes a
:class:`LearnedVectors` (``recadmin index build|update`` build one from the active checkpoint), and the build writes
each item's learned vector in the same bulk request as the rest of its document. :mod:`indexer.learned` writes them
into an existing version in place instead (a model activated on a live index).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

#: The k-NN field of the learned vectors; ``_meta`` keys naming the model they belong to and their width.
BEHAVIOUR_FIELD = "behaviour_vector"
META_MODEL, META_DIM = "behaviour_model", "behaviour_dim"


class LearnedVectors(Protocol):
    """A model's learned item vectors, computed from the items' text vectors one bulk chunk at a time."""

    #: The model version the vectors belong to (the version's ``_meta.behaviour_model``).
    model: str
    #: Their width.
    dim: int
    #: The width of the text vectors the model reads (0: it reads none, any width will do).
    text_dim: int

    def vectors(self, ids: Sequence[str], text: np.ndarray) -> np.ndarray:
        """(len(ids), dim) float32: the learned vector of item ``ids[i]`` whose text vector is ``text[i]``
        ((len(ids), text width) float32); an item the model was not trained with is placed by its text alone."""
        ...


#: What a build is given: called once it is known that documents will be written (an unchanged catalog loads no
#: model); None from it: no model with learned vectors is active.
LearnedSource = Callable[[], "LearnedVectors | None"]


def field_mapping(dimension: int) -> dict[str, Any]:
    """The mapping of :data:`BEHAVIOUR_FIELD` (Lucene HNSW, inner product: the model ranks by dot product)."""
    return {
        "type": "knn_vector",
        "dimension": dimension,
        "method": {
            "name": "hnsw",
            "engine": "lucene",
            "space_type": "innerproduct",
            "parameters": {"m": 16, "ef_construction": 128},
        },
    }


def reads(learned: LearnedVectors | None, dimension: int) -> LearnedVectors | None:
    """``learned`` when its model reads text vectors of ``dimension`` (or none), else None: a build re-embedded with
    another model writes no learned vectors (the publication after it says why)."""
    if learned is None or (learned.text_dim and learned.text_dim != dimension):
        return None
    return learned


def learned_meta(learned: LearnedVectors | None) -> dict[str, Any]:
    """The ``_meta`` of a version holding ``learned``'s vectors (None: holding none)."""
    return {META_MODEL: learned.model, META_DIM: learned.dim} if learned else {META_MODEL: None}
