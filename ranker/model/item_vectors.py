"""Every item's vector in memory (Online Retail: ~3.9k x 384 float32, ~6 MB), loaded from the live index.

The ranker looks vectors up by item id on every request, so they live in one contiguous float32 array with an
id -> row dict. :meth:`ItemVectors.from_index` pages through the live index version behind the alias;
``source`` names the version they came from (the service loads again when the alias moves). ``recommendable``
says which items may be recommended (the catalog's flag; a version written before the flag existed has it true for
every item): the candidate pool, the model's own candidates and training's targets leave the others out.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

from core.errors import IndexMissing, OpenSearchError

if TYPE_CHECKING:
    from core.settings import Settings

_FIELDS = ["vector", "title", "price", "recommendable"]


class ItemVectors:
    """Item id -> vector (plus title, price and whether it may be recommended) for every item of one index
    version."""

    def __init__(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        titles: Sequence[str] | None = None,
        prices: Sequence[float | None] | np.ndarray | None = None,
        source: str = "",
        recommendable: Sequence[bool | None] | np.ndarray | None = None,
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
        flags = [True] * len(self.ids) if recommendable is None else list(recommendable)
        if len(flags) != len(self.ids):
            raise ValueError(f"{len(flags)} recommendable flags for {len(self.ids)} ids")
        #: (N,) bool: the item may be recommended (None, a document without the flag, reads as True).
        self.recommendable = np.array([flag is None or bool(flag) for flag in flags], dtype=bool)
        self._unrecommendable = frozenset(i for i, ok in zip(self.ids, self.recommendable, strict=True) if not ok)
        #: The concrete index version these vectors came from ("" when built from arrays).
        self.source = source

    @classmethod
    def from_arrays(
        cls,
        ids: Sequence[str],
        vectors: np.ndarray,
        titles: Sequence[str] | None = None,
        prices: Sequence[float | None] | None = None,
        recommendable: Sequence[bool | None] | np.ndarray | None = None,
    ) -> ItemVectors:
        """Vectors given directly (tests, benchmarks, offline training, the evaluation)."""
        return cls(ids, vectors, titles, prices, recommendable=recommendable)

    @classmethod
    def from_index(cls, settings: Settings, *, page_size: int = 1000) -> ItemVectors:
        """Every document of the live index version (item_id, vector, title, price, recommendable)."""
        from core.opensearch.client import make_client
        from core.opensearch.documents import read_items

        os_settings = settings.opensearch
        docs = read_items(make_client(os_settings), os_settings.index_alias, _FIELDS, os_settings.url, page_size)
        keep = [i for i, v in enumerate(docs.columns["vector"]) if v]
        if not keep:
            raise IndexMissing(f"index '{docs.version}' on {os_settings.url} holds no item vectors; build it first")
        vectors = [docs.columns["vector"][i] for i in keep]
        dims = {len(v) for v in vectors}
        if len(dims) != 1:
            raise OpenSearchError(f"index '{docs.version}' holds vectors of several dimensions: {sorted(dims)}")
        return cls(
            [docs.ids[i] for i in keep],
            np.asarray(vectors, dtype=np.float32),
            [docs.columns["title"][i] or "" for i in keep],
            [docs.columns["price"][i] for i in keep],
            source=docs.version,
            recommendable=[docs.columns["recommendable"][i] for i in keep],
        )

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.row

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row of each id, -1 for unknown ids. (len(ids),) int64."""
        return np.fromiter(map(self.row.get, ids, repeat(-1)), dtype=np.int64, count=len(ids))

    def get(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` as a (len(ids), dim) float32 array (zeros for unknown ids) and the known-mask."""
        rows = self.rows(ids)
        known = rows >= 0
        out = self.vectors[np.where(known, rows, 0)]
        out[~known] = 0.0
        return out, known

    def unrecommendable(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that the catalog marks not recommendable (unknown ids are not among them)."""
        banned = self._unrecommendable
        return {i for i in ids if i in banned} if banned else set()

    def title(self, item_id: str) -> str:
        row = self.row.get(item_id)
        return self.titles[row] if row is not None else ""
