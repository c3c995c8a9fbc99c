"""The numpy user encoder computes what the torch sequence model computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ranker.model import SequenceConfig, SequenceModel
from ranker.model.user_encoder import UserEncoder


@pytest.mark.parametrize(("layers", "heads", "length"), [(2, 2, 50), (1, 4, 1), (3, 1, 7), (2, 2, 20)])
def test_the_numpy_user_vector_equals_the_torch_models(layers, heads, length):
    torch.manual_seed(layers * 10 + length)
    config = SequenceConfig(items=40, text_dim=12, dim=16, layers=layers, heads=heads, max_length=50)
    model = SequenceModel(config).eval()
    with torch.no_grad():  # weights away from their initial values, so every part of the pass matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        table = model.item_table(torch.randn(40, 12))
    rng = np.random.default_rng(length)
    rows = rng.integers(1, 41, size=length)
    gaps = rng.integers(0, config.gap_buckets, size=length)
    with torch.inference_mode():
        expected = model.user_vectors(table, torch.from_numpy(rows)[None], torch.from_numpy(gaps)[None])[0].numpy()
    got = UserEncoder(model)(table.numpy(), rows, gaps)
    assert got.shape == (16,) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
