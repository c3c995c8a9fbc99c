"""Training on the compact events frame gives the examples and statistics that the frame of strings gives."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from core.settings import Settings
from ranker.feedback.frames import load_events
from ranker.model import ItemVectors
from ranker.model.network import RankerConfig
from ranker.training.examples import build_examples
from tests.builders.event_frames import string_frame_read
from tests.paths import DATA


def test_examples_and_statistics_from_the_compact_read_equal_those_of_the_frame_of_strings(tmp_path):
    lines = pd.read_parquet(DATA).iloc[:40_000]
    path = tmp_path / "retail.parquet"
    lines.to_parquet(path, row_group_size=5_000)
    strings = string_frame_read(path, chunk_rows=5_000)
    ids = sorted(set(strings["item_id"]))[: -len(set(strings["item_id"])) // 5]  # some items outside the table
    rng = np.random.default_rng(3)
    items = ItemVectors.from_arrays(ids, rng.normal(size=(len(ids), 8)).astype(np.float32),
                                    recommendable=rng.random(len(ids)) > 0.05)  # fmt: skip
    compact = load_events(Settings(), path, items=ids, compact=True)
    assert len(compact) < len(strings) and isinstance(compact["user_id"].dtype, pd.CategoricalDtype)
    config = RankerConfig(item_dim=8)
    old = build_examples(strings, items, config, validation_fraction=0.1, seed=5)
    new = build_examples(compact, items, config, validation_fraction=0.1, seed=5)
    assert len(old.target) > 1_000
    for f in fields(old):
        np.testing.assert_array_equal(getattr(new, f.name), getattr(old, f.name), err_msg=f.name)
    for through_end in (False, True):
        assert new.target_counts(ids, through_end) == old.target_counts(ids, through_end)
        assert new.repeat_rates(ids, through_end) == old.repeat_rates(ids, through_end)
        a, b = new.cooccurrence(ids, through_end).matrix, old.cooccurrence(ids, through_end).matrix
        assert a.nnz > 0 and (a != b).nnz == 0
    assert new.latest_trend(ids) == old.latest_trend(ids)
