"""Item ids and titles of a large catalog held compactly: one UTF-8 block per column, ids found by a sorted hash.

A Python list of 1M ids, its id -> row dict and a list of 1M titles held ~240 MB in the service (docs/scaling.md:
a ``str`` costs ~50 bytes before its text, a dict entry ~100). Here a column of strings is one ``bytes`` block and
an offset per string (its UTF-8 length plus 4-8 bytes), and the lookup is each id's 64-bit ``hash()`` sorted once,
with the row it came from: ``searchsorted`` finds a few hundred ids of a request in tens of microseconds, and each
hit is checked against the stored bytes, so a hash shared by an unknown id never gives a wrong row (ids of the
table that share a hash, which 64 bits make all but impossible, are kept in a small dict).

``hash()`` of a ``str`` differs between processes (PYTHONHASHSEED): the sorted hashes are built in the process
that uses them, and a pickled :class:`ItemIds` rebuilds them where it is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise
from typing import overload

import numpy as np

#: Up to this many ids the table also keeps an id -> row dict (about 100 bytes an id): a dict lookup is ~6x faster
#: than the sorted hash (100 ids: ~8 against ~50 microseconds), which the scorer's 1 ms budget for a request of a
#: small catalog wants; above it, as for the float16 item table and the per-request projections, memory comes first.
DICT_LIMIT = 100_000

#: Strings are encoded so that any Python ``str`` (a lone surrogate from a JSON escape included) round-trips.
_ERRORS = "surrogatepass"


def _encode(text: str) -> bytes:
    return text.encode("utf-8", _ERRORS)


class StringBlock(Sequence[str]):
    """A read-only sequence of strings stored as one UTF-8 block and their offsets."""

    __slots__ = ("_block", "_offsets")

    def __init__(self, strings: Iterable[str]):
        encoded = [_encode(s) for s in strings]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        self._block = b"".join(encoded)
        del encoded
        # int32 offsets while the block is under 2 GiB (4 bytes an item less), int64 beyond.
        kind = np.int32 if len(self._block) < 2**31 else np.int64
        self._offsets = np.zeros(len(lengths) + 1, dtype=kind)
        np.cumsum(lengths, out=self._offsets[1:])

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _bytes(self, row: int) -> bytes:
        return self._block[int(self._offsets[row]) : int(self._offsets[row + 1])]

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = int(index)  # numpy integers too
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"row {index} out of range for {len(self)} strings")
        return self._bytes(row).decode("utf-8", _ERRORS)

    def take(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        """The strings at ``rows`` (each in 0..len-1), in that order: a request's few hundred ids at once."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows out of range for {len(self)} strings")
        block, starts, stops = self._block, self._offsets[rows].tolist(), self._offsets[rows + 1].tolist()
        return [block[a:b].decode("utf-8", _ERRORS) for a, b in zip(starts, stops, strict=True)]

    def __iter__(self) -> Iterator[str]:
        block, offsets = self._block, self._offsets.tolist()
        for start, stop in pairwise(offsets):
            yield block[start:stop].decode("utf-8", _ERRORS)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringBlock):
            return self._block == other._block and np.array_equal(self._offsets, other._offsets)
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equality by value, like a list

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in self[:3])
        return f"{type(self).__name__}([{head}{', ...' if len(self) > 3 else ''}], {len(self)} strings)"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return type(self), (list(self),)

    @property
    def nbytes(self) -> int:
        """Bytes held: the block and the offsets."""
        return len(self._block) + int(self._offsets.nbytes)


class ItemIds(StringBlock):
    """Unique item ids in table order, with the row of any id: ``rows(ids)`` for a request's ids at once."""

    __slots__ = ("_dict", "_hashes", "_order", "_shared")

    def __init__(self, ids: Iterable[str]):
        ids = ids if isinstance(ids, list) else list(ids)
        super().__init__(ids)
        hashes = np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(hashes, kind="stable")
        #: The ids' hashes, sorted, and the row each came from.
        self._hashes = hashes[order]
        self._order = order.astype(np.int32 if len(ids) < 2**31 else np.int64)
        del hashes, order
        #: id -> row of the ids whose hash another id of the table shares (none, in practice).
        self._shared: dict[str, int] = {}
        same = np.flatnonzero(self._hashes[1:] == self._hashes[:-1])
        for position in np.unique(np.concatenate([same, same + 1])):
            row = int(self._order[position])
            if self._shared.setdefault(ids[row], row) != row:
                raise ValueError(f"item ids must be unique; {ids[row]!r} is repeated")
        #: id -> row for a small catalog (:data:`DICT_LIMIT`), None above it.
        self._dict: dict[str, int] | None = {i: n for n, i in enumerate(ids)} if len(ids) <= DICT_LIMIT else None

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row of each id in ``ids``, -1 for ids the table does not hold, in the order given. (len(ids),) int64."""
        count = len(ids)
        if not count or not len(self):
            return np.full(count, -1, dtype=np.int64)
        if self._dict is not None:
            get = self._dict.get
            try:
                return np.fromiter((get(i, -1) for i in ids), dtype=np.int64, count=count)
            except TypeError:  # an unhashable id: the checked path below says -1 for it
                pass
        wanted = np.fromiter(map(hash, ids), dtype=np.int64, count=count)
        at = np.searchsorted(self._hashes, wanted)
        np.minimum(at, len(self._hashes) - 1, out=at)
        rows = self._order[at].astype(np.int64)
        rows[self._hashes[at] != wanted] = -1
        # A hash match is only a candidate: the stored bytes must be the id's (an unknown id may share the hash).
        # Row -1 reads the last offset twice: an empty slice, so a miss is checked like a hit and stays -1.
        block, starts, stops = self._block, self._offsets[rows].tolist(), self._offsets[rows + 1].tolist()
        try:
            same = [block[a:b] == i.encode("utf-8", _ERRORS) for i, a, b in zip(ids, starts, stops, strict=True)]
        except AttributeError:  # an id that is not a string: unknown, as in a dict of strings
            same = [isinstance(i, str) and block[a:b] == i.encode("utf-8", _ERRORS)
                    for i, a, b in zip(ids, starts, stops, strict=True)]  # fmt: skip
        wrong = np.flatnonzero(~np.fromiter(same, dtype=bool, count=count) & (rows >= 0))
        for k in wrong.tolist():  # another id of the same hash: the table's own (self._shared) or none
            rows[k] = self._shared.get(ids[k], -1) if self._shared else -1
        return rows

    def row(self, item_id: str) -> int | None:
        """Row of one id, None when the table does not hold it."""
        row = int(self.rows([item_id])[0])
        return row if row >= 0 else None

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self.row(item_id) is not None

    @property
    def nbytes(self) -> int:
        """Bytes held: the block, the offsets and the sorted lookup (a small catalog's dict not counted)."""
        return super().nbytes + int(self._hashes.nbytes) + int(self._order.nbytes)
