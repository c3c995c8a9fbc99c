"""Reading the user's Parquet files in batches: every row once, and nothing of the row groups already read kept."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.rows import parquet_batches

ROW_GROUPS, GROUP_ROWS = 40, 20_000


def _file(tmp_path):
    """Random 64-bit numbers (incompressible: the file's bytes are the row groups' bytes), many row groups."""
    rng = np.random.default_rng(0)
    table = pa.table({"a": rng.integers(0, 2**62, ROW_GROUPS * GROUP_ROWS), "b": np.arange(ROW_GROUPS * GROUP_ROWS)})
    path = tmp_path / "numbers.parquet"
    pq.write_table(table, path, row_group_size=GROUP_ROWS, compression="zstd")
    return path


def test_every_row_comes_once_in_file_order_in_batches_of_at_most_the_size(tmp_path):
    path = _file(tmp_path)
    batches = list(parquet_batches(path, 7_000, columns=["b"]))
    assert all(b.num_rows <= 7_000 for b in batches)
    assert all(b.schema.names == ["b"] for b in batches)
    assert np.array_equal(np.concatenate([b.column(0).to_numpy() for b in batches]), np.arange(ROW_GROUPS * GROUP_ROWS))


def test_the_bytes_of_row_groups_already_read_are_not_kept(tmp_path):
    # pyarrow's default pre-buffering kept every column chunk it had read until the reader closed
    # (apache/arrow#39808): the whole file here (all 40 groups fit one coalesced read). Read one group at a time,
    # the pool holds about one group's bytes, whichever group the reader is at.
    path = _file(tmp_path)
    size = path.stat().st_size
    before = pa.total_allocated_bytes()
    held = []
    for batch in parquet_batches(path, GROUP_ROWS):
        del batch
        held.append(pa.total_allocated_bytes() - before)
    assert len(held) == ROW_GROUPS
    assert max(held) < size / 4, (held, size)
    assert held[-1] <= held[0] + size / ROW_GROUPS
