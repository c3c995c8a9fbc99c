"""Every item's vector in memory (Online Retail: ~3.9k x 384 float32, ~6 MB), loaded from the live index.

The ranker looks vectors up by item id on every request, so they live in one contiguous array with the ids
beside it in compact form (:mod:`ranker.model.item_ids`: one UTF-8 block and a sorted hash; the titles one block
too). The array is float32, or float16 for the service (``RECSEARCH_SERVICE_ITEM_VECTORS_DTYPE``: half the memory,
1M x 384 in 768 MB instead of 1.5 GB; rows are widened to float32 when read, so all arithmetic stays float32).
:meth:`ItemVectors.from_index` pages through the live index version behind the alias; ``source`` names the version
they came from (the service loads again when the alias moves). ``recommendable``
says which items may be recommended (the catalog's flag; a version written before the flag existed has it true for
every item): the candidate pool, the model's own candidates and training's targets leave the others out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.errors import IndexMissing, OpenSearchError
from ranker.model.item_ids import ItemIds, StringBlock

if TYPE_CHECKING:
    from core.settings import Settings

_FIELDS = ["vector", "title", "price", "recommendable"]
#: How the vectors may be stored: float32, or float16 (half the memory; read back as float32).
DTYPES = ("float32", "float16")


#: ``auto`` keeps float32 (the offline evaluation's exact scores) up to this many items and float16 above it.
AUTO_FLOAT16_ABOVE = 100_000


def storage_dtype(dtype: str, items: int) -> str:
    """The dtype the table is held in: ``dtype``, or for ``auto`` float32 up to :data:`AUTO_FLOAT16_ABOVE` items."""
    if dtype == "auto":
        return "float16" if items > AUTO_FLOAT16_ABOVE else "float32"
    return dtype


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
        dtype: str = "float32",
    ):
        dtype = storage_dtype(dtype, len(ids))
        if dtype not in DTYPES:
            raise ValueError(f"item vectors dtype must be one of auto, {', '.join(DTYPES)}; got {dtype!r}")
        vectors = np.ascontiguousarray(vectors, dtype=np.dtype(dtype))
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"vectors must be (len(ids), dim); got {vectors.shape} for {len(ids)} ids")
        #: The ids in table order, with the row of any id (one UTF-8 block and a sorted hash: ~30 bytes an item
        #: where a list, its strings and an id -> row dict took ~130).
        self.ids = ItemIds([str(i) for i in ids])
        self.vectors = vectors
        #: Each item's title (one UTF-8 block too), for explanations.
        self.titles = StringBlock(titles if titles is not None else [""] * len(self.ids))
        if len(self.titles) != len(self.ids):
            raise ValueError(f"{len(self.titles)} titles for {len(self.ids)} ids")
        raw = [np.nan if p is None else p for p in prices] if prices is not None else [np.nan] * len(self.ids)
        self.prices = np.asarray(raw, dtype=np.float64)
        flags = [True] * len(self.ids) if recommendable is None else list(recommendable)
        if len(flags) != len(self.ids):
            raise ValueError(f"{len(flags)} recommendable flags for {len(self.ids)} ids")
        #: (N,) bool: the item may be recommended (None, a document without the flag, reads as True).
        self.recommendable = np.array([flag is None or bool(flag) for flag in flags], dtype=bool)
        self._unrecommendable = frozenset(self.ids[int(r)] for r in np.flatnonzero(~self.recommendable))
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
        dtype: str = "float32",
    ) -> ItemVectors:
        """Vectors given directly (tests, benchmarks, offline training, the evaluation)."""
        return cls(ids, vectors, titles, prices, recommendable=recommendable, dtype=dtype)

    @classmethod
    def from_index(cls, settings: Settings, *, page_size: int = 1000, dtype: str = "float32") -> ItemVectors:
        """Every document of the live index version (item_id, vector, title, price, recommendable).

        Each page's vectors go straight into one array of ``dtype`` sized from the version's document count: the
        whole table never exists as Python float lists (~25x its size), only one page of the response does."""
        from core.opensearch.client import make_client, translate_errors
        from core.opensearch.documents import iter_documents

        os_settings = settings.opensearch
        client, alias, url = make_client(os_settings), os_settings.index_alias, os_settings.url
        with translate_errors(url, alias):
            if not client.indices.exists(index=alias):
                raise IndexMissing(
                    f"index '{alias}' does not exist on {url}; build it with `recadmin index build --catalog PATH`"
                )
            version = sorted(client.indices.get_mapping(index=alias))[-1]  # the newest if it ever points at more
            capacity = max(1, int(client.count(index=version)["count"]))
            dtype = storage_dtype(dtype, capacity)
            table: np.ndarray | None = None
            ids: list[str] = []
            titles: list[str] = []
            prices: list[float | None] = []
            flags: list[bool | None] = []
            for hit in iter_documents(client, version, ["item_id", *_FIELDS], page_size):
                source = hit.get("_source") or {}
                vector = source.get("vector")
                if not vector:
                    continue
                if table is None:
                    table = np.empty((capacity, len(vector)), dtype=np.dtype(dtype))
                elif len(vector) != table.shape[1]:
                    dims = sorted({table.shape[1], len(vector)})
                    raise OpenSearchError(f"index '{version}' holds vectors of several dimensions: {dims}")
                n = len(ids)
                if n == len(table):  # documents added while reading (an update in place): grow
                    table = np.concatenate([table, np.empty_like(table)])
                table[n] = vector
                ids.append(str(source.get("item_id", hit["_id"])))
                titles.append(source.get("title") or "")
                prices.append(source.get("price"))
                flags.append(source.get("recommendable"))
        if table is None:
            raise IndexMissing(f"index '{version}' on {url} holds no item vectors; build it first")
        table = table[: len(ids)] if len(ids) == len(table) else table[: len(ids)].copy()  # no unused tail kept
        return cls(ids, table, titles, prices, source=version, recommendable=flags, dtype=dtype)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.ids

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row of each id, -1 for unknown ids. (len(ids),) int64."""
        return self.ids.rows(ids)

    def row(self, item_id: str) -> int | None:
        """Row of one id, None for an unknown id."""
        return self.ids.row(item_id)

    def get(self, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``ids`` as a (len(ids), dim) float32 array (zeros for unknown ids) and the known-mask."""
        rows = self.rows(ids)
        return self.table_rows(rows), rows >= 0

    def table_rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), dim) float32 vectors of the items at table ``rows``; row -1 (an unknown item) reads zeros."""
        known = rows >= 0
        out = self.vectors[np.where(known, rows, 0)].astype(np.float32, copy=False)
        out[~known] = 0.0
        return out

    def float32_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float32 (a view when stored as float32): a pass over the whole table goes chunk by
        chunk, so a float16 table is never widened whole."""
        return self.vectors[start:stop].astype(np.float32, copy=False)

    def unrecommendable(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that the catalog marks not recommendable (unknown ids are not among them)."""
        banned = self._unrecommendable
        return {i for i in ids if i in banned} if banned else set()

    def title(self, item_id: str) -> str:
        row = self.ids.row(item_id)
        return self.titles[row] if row is not None else ""
