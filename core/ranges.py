"""Ranges of an array read at once: the positions of many ``[start, start + length)`` slices, concatenated.

A CSR row's neighbours, an example's events from its basket on: numpy reads them all in one gather from these
positions instead of one slice per range (a Python loop over a batch's ranges costs more than the reads).
"""

from __future__ import annotations

import numpy as np


def range_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(sum(lengths),) int64: ``starts[0] .. starts[0] + lengths[0] - 1``, then the next range's, and so on."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.repeat(np.asarray(starts, dtype=np.int64) - np.cumsum(lengths) + lengths, lengths) + np.arange(
        int(lengths.sum())
    )
