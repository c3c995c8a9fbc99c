"""The learned vectors a build writes with each document (``SequenceItemVectors``) are what the behaviour space
places the items at (what the in-place publication writes), chunk by chunk, new items included; a build's bulk
actions carry them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from indexer.build import BuildResult, document_actions
from indexer.catalog import Item
from indexer.learned_field import BEHAVIOUR_FIELD, learned_meta, reads
from ranker.model.behaviour import BehaviourSpace, SequenceItemVectors
from ranker.model.checkpoint import SequencePart
from ranker.model.item_vectors import ItemVectors
from ranker.model.sequence import SequenceConfig, SequenceModel
from tests.fakes.embedder import HashEmbedder

DIM = 12


def _part(trained: list[str], seed: int = 0) -> SequencePart:
    torch.manual_seed(seed)
    model = SequenceModel(SequenceConfig(items=len(trained), text_dim=DIM, dim=8, layers=1, heads=2)).eval()
    with torch.no_grad():  # a trained model's id vectors are not zero (a fresh one's are)
        model.item_ids.weight[1:].normal_()
    return SequencePart(model, trained)


def _items(n: int, seed: int = 1) -> ItemVectors:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return ItemVectors.from_arrays([f"i{k}" for k in range(n)], vectors)


def test_chunk_by_chunk_they_are_the_behaviour_spaces_vectors_new_items_included():
    items = _items(50)
    part = _part([f"i{k}" for k in range(0, 50, 2)] + ["gone"])  # every other item trained, one item left the shop
    space = BehaviourSpace(part, items, threads=None)
    provider = SequenceItemVectors(part, "v7")
    assert (provider.model, provider.dim, provider.text_dim) == ("v7", 8, DIM)
    order = np.random.default_rng(2).permutation(50)  # any order, any chunking: each row depends on its item only
    for chunk in np.array_split(order, 7):
        ids = [items.ids[r] for r in chunk]
        got = provider.vectors(ids, items.vectors[chunk])
        assert got.dtype == np.float32 and got.shape == (len(chunk), 8)
        np.testing.assert_allclose(got, space.vectors[chunk], rtol=1e-5, atol=1e-6)
    # an item the model has no id row for is placed by its text alone; a trained one is not
    text = part.model.text(torch.from_numpy(items.vectors[[1]])).detach().numpy()
    np.testing.assert_allclose(provider.vectors(["i1"], items.vectors[[1]]), text, rtol=1e-5, atol=1e-6)
    assert not np.allclose(provider.vectors(["i0"], items.vectors[[0]]), part.model.text(
        torch.from_numpy(items.vectors[[0]])).detach().numpy(), atol=1e-3)  # fmt: skip


def test_a_model_reading_other_text_vectors_is_not_written():
    provider = SequenceItemVectors(_part(["a"]), "v1")
    assert reads(provider, DIM) is provider
    assert reads(provider, DIM + 1) is None and reads(None, DIM) is None
    assert learned_meta(provider) == {"behaviour_model": "v1", "behaviour_dim": 8}
    assert learned_meta(None) == {"behaviour_model": None}


def test_a_builds_documents_carry_the_learned_vector_of_the_vector_they_get():
    embedder = HashEmbedder(DIM)
    given = np.random.default_rng(3).normal(size=DIM).astype(np.float32)
    items = [Item("a", "blue mug"), Item("b", "red bowl", vector=given), Item("new", "green lamp")]
    part = _part(["a", "b"])
    provider = SequenceItemVectors(part, "v2")
    result = BuildResult("v", None, 0)
    actions = list(document_actions(None, items, {}, embedder, "v", result=result, learned=provider))
    for action in actions:
        doc = action["_source"]
        expected = provider.vectors([doc["item_id"]], np.asarray([doc["vector"]], dtype=np.float32))[0]
        assert doc[BEHAVIOUR_FIELD] == pytest.approx(expected.tolist(), rel=1e-6)
    assert actions[1]["_source"]["vector"] == pytest.approx(given.tolist())
    # without a provider, no field (a build with no active model writes the documents as before)
    plain = list(document_actions(None, items, {}, embedder, "v", result=BuildResult("v", None, 0)))
    assert all(BEHAVIOUR_FIELD not in a["_source"] for a in plain)
    assert [a["_source"]["doc_hash"] for a in plain] == [a["_source"]["doc_hash"] for a in actions]
