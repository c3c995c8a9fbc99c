"""A catalog file read in chunks, in two passes, so that a build's memory does not grow with the catalog's vectors.

The first pass (:meth:`CatalogStream.scan`) reads and checks every row as :func:`~indexer.catalog.read_catalog`
does (every vector, duplicates, the mapping's columns), counts the items and keeps the rejects, but no item: a bad
catalog stops the build before anything is written, and the shrink guard knows the count. Each iteration after that
reads the file again, ``chunk_rows`` rows at a time, and yields the same items in the same order.

What memory still grows with: the set of item ids the duplicate check keeps while a pass runs (about 100 bytes an
item), and the rejects. Vectors and documents are held one chunk at a time. Online Retail transactions are
aggregated whole (one item per stock code from all the lines), as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.errors import CatalogError
from core.rows import Reject
from indexer.catalog import FieldMapping, Item, VectorColumn, iter_catalog

#: Rows read (and items held) at a time: a Parquet or CSV chunk of 384-dim vectors is a few MB.
CHUNK_ROWS = 2000


class CatalogStream:
    """A catalog file as a sized, re-iterable collection of items: :meth:`scan` first, then iterate (each
    iteration re-reads the file). The file must not change in between (checked by size and modification time)."""

    def __init__(
        self,
        path: Path,
        mapping: FieldMapping | None = None,
        vectors: VectorColumn | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ):
        self.path, self.mapping, self.vectors, self.chunk_rows = path, mapping, vectors, chunk_rows
        self.rejects: list[Reject] = []
        self.count = 0
        #: The vectors' dimension (the first item with a vector), None when no item has one.
        self.dimension: int | None = None
        self._stamp: tuple[int, int] | None = None

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def items(self) -> CatalogStream:
        """The items themselves (as :class:`~indexer.catalog.CatalogRead` names them)."""
        return self

    def scan(self) -> CatalogStream:
        """The first pass: read and check every row, count the items, keep the rejects."""
        self._stamp = self._stat() if self.path.is_file() else (0, 0)  # a missing file: iter_catalog says so
        rejects: list[Reject] = []
        count, dimension = 0, None
        for item in iter_catalog(self.path, rejects, self.mapping, vectors=self.vectors, chunk_rows=self.chunk_rows):
            count += 1
            if dimension is None and item.vector is not None:
                dimension = int(item.vector.size)
        self.rejects, self.count, self.dimension = rejects, count, dimension
        return self

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Item]:
        if self._stamp is None:
            raise RuntimeError("CatalogStream.scan() must run before the items are read")
        if self._stat() != self._stamp:
            raise CatalogError(
                "the catalog file changed while it was being built; nothing was made live", path=str(self.path)
            )
        yield from iter_catalog(self.path, [], self.mapping, vectors=self.vectors, chunk_rows=self.chunk_rows)

    def _stat(self) -> tuple[int, int]:
        try:
            st = self.path.stat()
        except OSError as e:
            raise CatalogError(f"cannot read catalog: {e.strerror}", path=str(self.path)) from None
        return st.st_size, st.st_mtime_ns
