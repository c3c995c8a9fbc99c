"""Rank fusion: the query's order with the user's (search), the sequence model's order with the ranker's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import torch

from ranker.feedback.profiles import Interaction
from ranker.model import Candidate, Scorer, SequenceConfig, SequenceModel, SequencePart, fused_order, fused_scores
from tests.unit.ranker.model.test_scoring import make_checkpoint, make_items


def test_fused_order_goes_from_the_query_order_to_the_users_with_the_weight():
    personal, query = ["c", "b", "a", "x"], ["a", "b", "c"]
    assert [i for i, _ in fused_order(personal, query, 0.0)] == ["a", "b", "c", "x"]  # x: not a query hit, last
    assert [i for i, _ in fused_order(personal, query, 100.0)] == personal
    scores = [s for _, s in fused_order(personal, query, 1.0)]
    assert scores == sorted(scores, reverse=True)


def test_fused_scores_follow_the_first_order_at_weight_zero_and_the_second_at_a_large_weight():
    first = np.array([3.0, 2.0, 1.0, 0.0])
    second = np.array([0.0, 1.0, 2.0, 3.0])
    assert np.argsort(-fused_scores(first, second, 0.0)).tolist() == [0, 1, 2, 3]
    assert np.argsort(-fused_scores(first, second, 50.0)).tolist() == [3, 2, 1, 0]
    both_first = fused_scores(np.array([1.0, 5.0, 2.0]), np.array([0.0, 9.0, 1.0]), 1.0)
    assert int(np.argmax(both_first)) == 1  # first in both orders: first fused
    assert fused_scores(first, second, 1.0)[1] == fused_scores(first, second, 1.0)[2]  # 2nd+3rd = 3rd+2nd


def _with_sequence(items):
    torch.manual_seed(3)
    sequence = SequenceModel(SequenceConfig(items=len(items), text_dim=items.dim, dim=8, heads=2, layers=1)).eval()
    checkpoint = make_checkpoint(items)
    checkpoint.sequence = SequencePart(sequence, list(items.ids))
    return checkpoint


def test_the_scorer_fuses_the_sequence_models_order_with_the_rankers_by_its_weight():
    items = make_items()
    checkpoint = _with_sequence(items)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    # The newest event 5 minutes ago: the session goes on.
    history = [Interaction(f"i{n}", "purchase", now - timedelta(days=n - 1, minutes=5)) for n in (1, 2, 3)]
    candidates = [Candidate(f"i{n}", 0.5) for n in range(5, 25)] + [Candidate("unknown", 0.5)]
    ranker = [s.id for s in Scorer(checkpoint, items, threads=None).score(history, candidates, now=now)]
    zero = Scorer(checkpoint, items, threads=None, sequence_weight=0.0).score(history, candidates, now=now)
    assert [s.id for s in zero] == ranker
    heavy = Scorer(checkpoint, items, threads=None, sequence_weight=1000.0)
    vector = heavy.user_vector(history)
    rows = items.rows([c.id for c in candidates[:-1]])
    by_sequence = [candidates[i].id for i in np.argsort(-heavy.behaviour.scores(vector, rows), kind="stable")]
    fused = [s.id for s in heavy.score(history, candidates, now=now)]
    assert fused[:-1] == by_sequence and fused[-1] == "unknown"  # an item the model does not know: last
    assert [s.id for s in heavy.score(history, candidates, now=now, sequence_weight=0.0)] == ranker  # this call only
    assert [s.id for s in heavy.score(history, candidates, now=now)] == fused
    middle = [s.id for s in Scorer(checkpoint, items, threads=None, sequence_weight=1.0).score(history, candidates,
                                                                                               now=now)]  # fmt: skip
    assert middle not in (ranker, by_sequence + ["unknown"]) and sorted(middle) == sorted(ranker)


def test_a_returning_user_gets_the_rankers_order_whatever_the_weight():
    items = make_items()
    checkpoint = _with_sequence(items)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    candidates = [Candidate(f"i{n}", 0.5) for n in range(5, 25)]
    ranker = Scorer(checkpoint, items, threads=None)
    heavy = Scorer(checkpoint, items, threads=None, sequence_weight=1000.0, session_minutes=30.0)
    for minutes, fused in ((29, True), (31, False), (60 * 24 * 3, False)):
        history = [Interaction(f"i{n}", "purchase", now - timedelta(minutes=minutes + n)) for n in (0, 1, 2)]
        plain = [s.id for s in ranker.score(history, candidates, now=now)]
        got = [s.id for s in heavy.score(history, candidates, now=now)]
        assert heavy.in_session(history, now) is fused and (got != plain) is fused, minutes
