"""The positions of many array ranges, concatenated."""

from __future__ import annotations

import numpy as np

from core.ranges import range_positions


def test_range_positions_concatenate_each_range_and_skip_empty_ones():
    got = range_positions(np.array([5, 0, 9, 2]), np.array([3, 0, 1, 2]))
    assert got.tolist() == [5, 6, 7, 9, 2, 3]
    assert range_positions(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []
