"""Fine-tuning pairs: bought together or in sequence, never from after the cutoff; batches without repeats."""

from __future__ import annotations

import pandas as pd

from ranker.finetune_data import batches_without_repeats, cooccurrence_pairs
from tests.unit.eval_fakes import events

LOG = events([
    ("u1", "a", "2024-01-01"), ("u1", "b", "2024-01-01"),  # a+b in one basket
    ("u2", "a", "2024-01-02"), ("u2", "b", "2024-01-02"),
    ("u1", "c", "2024-01-10"),  # b -> c and a -> c: consecutive baskets of u1
    ("u3", "x", "2024-06-01"), ("u3", "y", "2024-06-01"),  # after the cutoff
])  # fmt: skip
ITEMS = ["a", "b", "c", "x", "y"]


def test_pairs_come_from_baskets_and_sequences_before_the_cutoff():
    ps = cooccurrence_pairs(LOG, ITEMS, until=pd.Timestamp("2024-03-01"), max_pairs=100)
    assert {frozenset(p) for p in ps.pairs} == {frozenset("ab"), frozenset("ac"), frozenset("bc")}
    assert ps.basket_links == 1 and ps.candidates == 3
    later = cooccurrence_pairs(LOG, ITEMS, max_pairs=100)
    assert frozenset("xy") in {frozenset(p) for p in later.pairs}


def test_min_count_and_gap_filter_weak_links():
    strong = cooccurrence_pairs(LOG, ITEMS, until=pd.Timestamp("2024-03-01"), min_count=2)
    assert {frozenset(p) for p in strong.pairs} == {frozenset("ab")}
    no_seq = cooccurrence_pairs(LOG, ITEMS, until=pd.Timestamp("2024-03-01"), gap_days=1)
    assert {frozenset(p) for p in no_seq.pairs} == {frozenset("ab")}


def test_unknown_items_and_empty_input_give_no_pairs():
    assert cooccurrence_pairs(LOG, ["zz"]).pairs == []


def test_batches_never_repeat_an_item_and_cover_the_pairs():
    pairs = [("a", "b"), ("a", "c"), ("d", "e"), ("b", "f"), ("g", "h"), ("i", "a")]
    batches = list(batches_without_repeats(pairs, batch_size=3, seed=0))
    for batch in batches:
        items = [x for i in batch for x in pairs[i]]
        assert len(items) == len(set(items))
    used = [i for b in batches for i in b]
    assert len(used) == len(set(used))
    # Three pairs share "a": they need three batches; a last lone pair is dropped (it would have no negative).
    assert len(used) >= len(pairs) - 1 and len(batches) >= 2
