"""A second k-NN field of learned item vectors in the live index version: what the ranker's sequence model places
each item at, so that personalized candidates come from OpenSearch k-NN with the user's vector as the query.

The vectors are written into the **live version in place** (a field added to its mapping, a partial update per
item), not into a new version: they change with every activated model, not with the catalog, and copying the
catalog's text vectors and enrichments into a new version for every model would cost a full rebuild. The version's
``_meta.behaviour_model`` names the model version the vectors belong to; a reader that finds another name (or none)
falls back to the text k-NN. A rebuild of the catalog writes a version without them: the active model's are written
again afterwards (``recadmin index build`` does it). Inner product is the score (the model ranks by dot product).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import ConfigError, OpenSearchError
from core.opensearch.client import translate_errors
from core.progress import ProgressFn
from indexer.build import bulk_load
from indexer.index import ItemsIndex

#: The k-NN field of the learned vectors; ``_meta`` keys naming the model they belong to and their width.
BEHAVIOUR_FIELD = "behaviour_vector"
META_MODEL, META_DIM = "behaviour_model", "behaviour_dim"


def field_mapping(dimension: int) -> dict[str, Any]:
    """The mapping of :data:`BEHAVIOUR_FIELD` (Lucene HNSW, inner product)."""
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


def write_learned_vectors(
    index: ItemsIndex,
    model: str,
    vectors: Mapping[str, Sequence[float]],
    *,
    chunk_size: int = 500,
    progress: ProgressFn | None = None,
) -> str:
    """Write ``vectors`` (item id -> learned vector of ``model``) into the live version; returns its name. Items of
    the index missing from ``vectors`` keep what they had (a reader checks ``_meta.behaviour_model``)."""
    live = index.require_live()
    dims = {len(v) for v in vectors.values()}
    if len(dims) != 1:
        raise ConfigError(f"learned vectors of model {model} have {len(dims)} widths: {sorted(dims)}")
    dim = dims.pop()
    with translate_errors(index.url, live):
        mapping = index.client.indices.get_mapping(index=live)
    have = (next(iter(mapping.values()))["mappings"].get("properties") or {}).get(BEHAVIOUR_FIELD)
    if have is not None and have.get("dimension") != dim:
        raise OpenSearchError(
            f"the live version {live} holds {have.get('dimension')}-dim learned vectors, model {model} has {dim}: "
            "rebuild the index (`recadmin index build --force`), which writes the active model's vectors again"
        )
    if have is None:
        with translate_errors(index.url, live):
            index.client.indices.put_mapping(index=live, body={"properties": {BEHAVIOUR_FIELD: field_mapping(dim)}})
    actions = (
        {"_op_type": "update", "_index": live, "_id": item, "doc": {BEHAVIOUR_FIELD: [float(x) for x in vector]}}
        for item, vector in vectors.items()
    )
    bulk_load(index.client, actions, len(vectors), chunk_size, progress, index.url)
    with translate_errors(index.url, live):
        index.client.indices.refresh(index=live)
    index.update_meta(live, {META_MODEL: model, META_DIM: dim})
    return live


def learned_model(index: ItemsIndex) -> str | None:
    """The model version whose learned vectors the live version holds (None when it holds none)."""
    live = index.live_version()
    return None if live is None else index.meta(live).get(META_MODEL)
