"""A second k-NN field of learned item vectors in the live index version: what the ranker's sequence model places
each item at, so that personalized candidates come from OpenSearch k-NN with the user's vector as the query.

The vectors are written into the **live version in place** (a field added to its mapping, a partial update per
item), not into a new version: they change with every activated model, not with the catalog, and copying the
catalog's text vectors and enrichments into a new version for every model would cost a full rebuild. The version's
``_meta.behaviour_model`` names the model version the vectors belong to; a reader that finds another name (or none)
falls back to the text k-NN. A rebuild of the catalog writes a new version with the active model's vectors in its
own bulk (:mod:`indexer.learned_field`; ``recadmin index build`` passes them), so publishing after it finds them in
place and writes nothing. Inner product is the score (the model ranks by dot product).

Writing in place costs a partial update per item, and each makes Lucene index the whole document again, both k-NN
fields included; refresh is off while the updates run (restored after, also on a failure), and the version's
``_meta.behaviour_model`` is cleared first, so a publication that fails half-way never claims a model's vectors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from core.errors import ConfigError, OpenSearchError
from core.opensearch.client import translate_errors
from core.progress import ProgressFn
from indexer.build import bulk_load
from indexer.index import ItemsIndex
from indexer.learned_field import BEHAVIOUR_FIELD, META_DIM, META_MODEL, field_mapping

__all__ = ["BEHAVIOUR_FIELD", "META_DIM", "META_MODEL", "field_mapping", "holds", "learned_model",
           "write_learned_vectors"]  # fmt: skip


def write_learned_vectors(
    index: ItemsIndex,
    model: str,
    vectors: Mapping[str, Sequence[float]],
    *,
    chunk_size: int = 500,
    progress: ProgressFn | None = None,
    refresh_off: bool = True,
) -> str:
    """Write ``vectors`` (item id -> learned vector of ``model``) into the live version; returns its name. Items of
    the index missing from ``vectors`` keep what they had (a reader checks ``_meta.behaviour_model``).
    ``refresh_off``: no refresh while the updates run (False: the version's own interval, as before; a bench
    compares the two)."""
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
    if index.meta(live).get(META_MODEL) is not None:  # from here until the end the version holds no one model's
        index.update_meta(live, {META_MODEL: None})
    actions = (
        {"_op_type": "update", "_index": live, "_id": item, "doc": {BEHAVIOUR_FIELD: [float(x) for x in vector]}}
        for item, vector in vectors.items()
    )
    with _refresh_paused(index, live, refresh_off):
        bulk_load(index.client, actions, len(vectors), chunk_size, progress, index.url)
    with translate_errors(index.url, live):
        index.client.indices.refresh(index=live)
    index.update_meta(live, {META_MODEL: model, META_DIM: dim})
    return live


@contextmanager
def _refresh_paused(index: ItemsIndex, name: str, pause: bool = True) -> Iterator[None]:
    """``refresh_interval: -1`` on ``name`` inside the block, its own setting (or the default) restored after,
    whether the block succeeds or fails."""
    if not pause:
        yield
        return
    with translate_errors(index.url, name):
        found = index.client.indices.get_settings(index=name, name="index.refresh_interval")
        before = (next(iter(found.values()), {}).get("settings") or {}).get("index", {}).get("refresh_interval")
        index.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "-1"}})
    try:
        yield
    finally:
        with translate_errors(index.url, name):
            index.client.indices.put_settings(index=name, body={"index": {"refresh_interval": before}})


def holds(index: ItemsIndex, name: str, model: str, dim: int) -> bool:
    """Whether version ``name`` holds the learned vectors of ``model`` (of width ``dim``) for its items."""
    meta = index.meta(name)
    return meta.get(META_MODEL) == model and meta.get(META_DIM) == dim


def learned_model(index: ItemsIndex) -> str | None:
    """The model version whose learned vectors the live version holds (None when it holds none)."""
    live = index.live_version()
    return None if live is None else index.meta(live).get(META_MODEL)
