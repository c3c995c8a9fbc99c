"""Every item's vector in memory (Online Retail: ~3.9k x 384 float32, ~6 MB), loaded from the live index.

The ranker looks vectors up by item id on every request, so they live in one contiguous float32 array with an
id -> row dict. :meth:`ItemVectors.from_index` pages through the live index version behind the alias;
:meth:`ItemVectors.reload_if_moved` loads again only when the alias points at another version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.errors import IndexMissing, OpenSearchError

if TYPE_CHECKING:
    from core.settings import Settings

_FIELDS = ["item_id", "vector", "title", "price"]


class ItemVectors:
    """Item id -> vector (plus title and price) for every item of one index version."""

    def __init__(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        titles: Sequence[str] | None = None,
        prices: Sequence[float | None] | np.ndarray | None = None,
        source: str = "",
    ):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"vectors must be (len(ids), dim); got {vectors.shape} for {len(ids)} ids")
        self.ids: list[str] = [str(i) for i in ids]
        self.row: dict[str, int] = {item_id: n for n, item_id in enumerate(self.ids)}
        if len(self.row) != len(self.ids):
            raise ValueError("item ids must be unique")
        self.vectors = vectors
        self.titles: list[str] = list(titles) if titles is not None else [""] * len(self.ids)
        raw = [np.nan if p is None else p for p in prices] if prices is not None else [np.nan] * len(self.ids)
        self.prices = np.asarray(raw, dtype=np.float64)
        #: The concrete index version these vectors came from ("" when built from arrays).
        self.source = source

    @classmethod
    def from_arrays(
        cls,
        ids: Sequence[str],
        vectors: np.ndarray,
        titles: Sequence[str] | None = None,
        prices: Sequence[float | None] | None = None,
    ) -> ItemVectors:
        """Vectors given directly (tests, benchmarks, offline training)."""
        return cls(ids, vectors, titles, prices)

    @classmethod
    def from_index(cls, settings: Settings, *, page_size: int = 1000) -> ItemVectors:
        """Every document of the live index version (item_id, vector, title, price), paged by item_id."""
        from indexer.api import items_index
        from core.opensearch.client import translate_errors
        from indexer.index import iter_documents

        index = items_index(settings)
        version = index.require_live()
        ids: list[str] = []
        vectors: list[list[float]] = []
        titles: list[str] = []
        prices: list[float | None] = []
        with translate_errors(index.url, version):
            for doc in iter_documents(index.client, version, _FIELDS, page_size):
                src = doc.get("_source") or {}
                if not src.get("vector"):
                    continue
                ids.append(str(src.get("item_id", doc["_id"])))
                vectors.append(src["vector"])
                titles.append(src.get("title") or "")
                prices.append(src.get("price"))
        if not ids:
            raise IndexMissing(f"index '{version}' on {index.url} holds no item vectors; build it first")
        dims = {len(v) for v in vectors}
        if len(dims) != 1:
            raise OpenSearchError(f"index '{version}' holds vectors of several dimensions: {sorted(dims)}")
        return cls(ids, np.asarray(vectors, dtype=np.float32), titles, prices, source=version)

    def reload_if_moved(self, settings: Settings) -> ItemVectors:
        """These vectors while the alias still points at their version, else a fresh load of the new version."""
        from indexer.api import items_index

        live = items_index(settings).live_version()
        return self if live == self.source else ItemVectors.from_index(settings)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.row

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row of each id, -1 for unknown ids. (len(ids),) int64."""
        get = self.row.get
        return np.fromiter((get(i, -1) for i in ids), dtype=np.int64, count=len(ids))

    def get(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` as a (len(ids), dim) float32 array (zeros for unknown ids) and the known-mask."""
        rows = self.rows(ids)
        known = rows >= 0
        out = self.vectors[np.where(known, rows, 0)]
        out[~known] = 0.0
        return out, known

    def title(self, item_id: str) -> str:
        row = self.row.get(item_id)
        return self.titles[row] if row is not None else ""
