"""What the peers learn from and read: the training events as ID rows, and the inputs of test cases.

Items are rows of the catalog shifted by one (row ``p + 1`` is catalog position ``p``; row 0 is padding), so the
scores of a model's item table, less its first row, line up with the catalog. Events of items outside the catalog
are left out. An item is *trained* when it has a training event: only those get a learnt embedding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranker.evaluation.catalog import IndexSnapshot
from ranker.evaluation.splits import TestCase


@dataclass
class PeerData:
    """Training events of one fit as ID arrays."""

    #: Per training event, in the frame's order (user, time, event id): the user's index and the item's row.
    users: np.ndarray
    rows: np.ndarray
    #: (catalog size,) bool: the item has a training event.
    trained: np.ndarray
    user_index: dict[str, int]

    @classmethod
    def from_events(cls, train: pd.DataFrame, catalog: IndexSnapshot) -> PeerData:
        known = train[train["item_id"].isin(catalog.position)]
        codes, uniques = pd.factorize(known["user_id"], sort=False)
        rows = known["item_id"].map(catalog.position).to_numpy(dtype=np.int64) + 1
        trained = np.zeros(len(catalog), dtype=bool)
        trained[rows - 1] = True
        return cls(codes.astype(np.int64), rows, trained, {str(u): i for i, u in enumerate(uniques)})

    @property
    def n_items(self) -> int:
        """Catalog size (rows 1..n_items; the tables have one more row, the padding)."""
        return len(self.trained)

    @property
    def n_users(self) -> int:
        return len(self.user_index)

    def sequences(self) -> list[np.ndarray]:
        """Each user's item rows, oldest first."""
        if not len(self.users):
            return []
        order = np.argsort(self.users, kind="stable")
        bounds = np.flatnonzero(np.diff(self.users[order])) + 1
        return np.split(self.rows[order], bounds)


def training_windows(sequences: Sequence[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Next-item windows: each sequence cut from its end into pieces of ``length + 1`` rows that overlap by one,
    so every transition is trained once; inputs are a piece less its last row, targets a piece less its first,
    both padded on the left to ``length`` with 0. Sequences of one row give nothing."""
    inputs, targets = [], []
    for seq in sequences:
        end = len(seq)
        while end > 1:
            piece = seq[max(0, end - length - 1) : end]
            inputs.append(_left_pad(piece[:-1], length))
            targets.append(_left_pad(piece[1:], length))
            end -= length
    if not inputs:
        return np.zeros((0, length), dtype=np.int64), np.zeros((0, length), dtype=np.int64)
    return np.stack(inputs), np.stack(targets)


def _left_pad(rows: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, dtype=np.int64)
    if len(rows):
        out[-len(rows) :] = rows[-length:]
    return out


def history_rows(cases: Sequence[TestCase], catalog: IndexSnapshot, trained: np.ndarray, length: int) -> np.ndarray:
    """(cases, ``length``) the newest ``length`` trained history items of each case as rows, left-padded with 0
    (items without a training event carry nothing a model learnt, so they are left out of its input)."""
    out = np.zeros((len(cases), length), dtype=np.int64)
    for i, case in enumerate(cases):
        positions = [catalog.position[item] for item in case.history if item in catalog.position]
        rows = [p + 1 for p in positions if trained[p]]
        out[i] = _left_pad(np.asarray(rows, dtype=np.int64), length)
    return out


def shuffled_batches(arrays: Sequence[np.ndarray], batch_size: int, rng: np.random.Generator) -> Iterator[tuple]:
    """The rows of ``arrays`` (same length) in a random order, ``batch_size`` at a time."""
    order = rng.permutation(len(arrays[0]))
    for start in range(0, len(order), batch_size):
        picked = order[start : start + batch_size]
        yield tuple(a[picked] for a in arrays)
