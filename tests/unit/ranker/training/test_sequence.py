"""The sequence model: trained on a synthetic shop it learns each user's cluster; its checkpoint rebuilds it; served,
its user vector is the k-NN query of the learned space and its score a feature the ranker reads."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from core.settings import RankerSettings, SequenceSettings
from ranker.feedback import Interaction
from ranker.model import ExactNeighbours, ItemVectors, RankerConfig, Scorer, load_checkpoint, save_checkpoint
from ranker.training.examples import build_examples
from ranker.training.fit import fit
from ranker.training.options import TrainOptions
from ranker.training.sequence import (
    cross_fitted_scores,
    example_scores,
    fit_sequence,
    training_windows,
    user_folds,
    user_starts,
)
from tests.builders.shop import clustered_shop

SEQ = SequenceSettings(dim=16, layers=1, heads=2, max_length=12, epochs=25, patience=25, batch_size=32,
                       learning_rate=5e-3, validation_examples=200)  # fmt: skip
SMALL = dict(attention_dim=8, hidden_dim=8, batch_size=32, negatives=4, hard_negatives=4, in_batch_negatives=8,
             validation_examples=200, validation_fraction=0.2, epochs=2, device="cpu", seed=3)  # fmt: skip


@pytest.fixture(scope="module")
def shop():
    return clustered_shop(users=48, baskets=8)


def _cluster(item: str) -> str:
    return item.split("-")[0]


def test_windows_cover_each_user_once_per_epoch_and_stay_in_the_training_period(shop):
    events, items = shop
    data = build_examples(events, items, RankerConfig(item_dim=items.dim), validation_fraction=0.2)
    starts, ends = training_windows(data, 6, np.random.default_rng(0))
    assert len(starts) == len(np.unique(data.event_user)) and np.all(ends - starts >= 2)
    assert np.all(data.days[ends - 1] < data.cutoff_day)  # a window's newest event is a training one
    assert np.all(data.event_user[ends - 1] == starts)  # and the user's own


def test_the_sequence_model_learns_the_users_cluster(shop):
    events, items = shop
    data = build_examples(events, items, RankerConfig(item_dim=items.dim), validation_fraction=0.2)
    fitted = fit_sequence(data, items, SEQ, seed=1, device="cpu")
    assert fitted.metrics["sequence_val_ndcg@10"] > 0.2  # 120 items, 8 clusters: random is ~0.04
    assert fitted.epochs[-1]["train_loss"] < fitted.epochs[0]["train_loss"]


def test_a_large_catalog_trains_with_a_sampled_softmax_and_learns_the_cluster(shop, monkeypatch):
    events, items = shop
    data = build_examples(events, items, RankerConfig(item_dim=items.dim), validation_fraction=0.2)
    full_losses = []
    monkeypatch.setattr("ranker.training.sequence._full_softmax_loss",
                        lambda *a: full_losses.append(1) or pytest.fail("the full softmax ran"))  # fmt: skip
    sampled = SEQ.model_copy(update={"full_softmax_items": 50, "sampled_negatives": 16})  # 120 items > 50
    fitted = fit_sequence(data, items, sampled, seed=1, device="cpu")
    assert fitted.metrics["sequence_val_ndcg@10"] > 0.2  # random is ~0.04
    assert fitted.epochs[-1]["train_loss"] < fitted.epochs[0]["train_loss"]
    assert all(row["seconds"] > 0 for row in fitted.epochs)


def test_a_version_with_a_sequence_model_serves_its_space(shop, tmp_path):
    events, items = shop
    options = TrainOptions.from_settings(RankerSettings(), SEQ, **SMALL)
    result = fit(events, items, options)
    assert result.model.config.features[-1] == "sequence" and "sequence_val_ndcg@10" in result.metrics
    loaded = load_checkpoint(save_checkpoint(result.checkpoint("v1", items), tmp_path / "r.pt"))
    assert loaded.sequence is not None and loaded.sequence.item_ids == items.ids
    scorer = Scorer(loaded, items, threads=None)
    user = events[events["user_id"] == "5"]
    history = [Interaction(r.item_id, r.type, r.ts.to_pydatetime()) for r in user.iloc[::-1].itertuples()]
    vector = scorer.user_vector(history)
    assert vector.shape == (16,) and scorer.user_vector(history) is vector  # one per request, remembered
    nearest = ExactNeighbours(scorer.behaviour).knn_ids(vector.tolist(), 10, exclude={history[0].item_id})
    assert history[0].item_id not in nearest
    mine = _cluster(history[0].item_id)
    assert sum(_cluster(i) == mine for i in nearest) >= 8  # the learned space knows the user's cluster


def test_a_new_item_gets_a_vector_from_its_text_alone(shop, tmp_path):
    events, items = shop
    data = build_examples(events, items, RankerConfig(item_dim=items.dim), validation_fraction=0.2)
    fitted = fit_sequence(data, items, SEQ.model_copy(update={"epochs": 2}), seed=1, device="cpu")
    from ranker.model import BehaviourSpace, SequencePart

    twin = items.vectors[0] + 0.01  # a new item whose text is the first item's
    grown = ItemVectors.from_arrays([*items.ids, "new"], np.vstack([items.vectors, twin[None]]))
    space = BehaviourSpace(SequencePart(fitted.model, list(items.ids)), grown, threads=None)
    assert space.trained.tolist() == [True] * len(items) + [False]
    text_only = BehaviourSpace(SequencePart(fitted.model, []), grown, threads=None)
    assert np.allclose(space.vectors[-1], text_only.vectors[-1], atol=1e-5)  # no id part: its text's projection
    assert np.allclose(text_only.vectors[-1], text_only.vectors[0], atol=0.05)  # close to its text twin


def test_history_times_become_gap_buckets(shop):
    from ranker.model import BehaviourSpace, SequenceConfig, SequenceModel, SequencePart

    _, items = shop
    space = BehaviourSpace(SequencePart(SequenceModel(SequenceConfig(items=len(items), text_dim=items.dim)),
                                        list(items.ids)), items, threads=None)  # fmt: skip
    t = pd.Timestamp("2024-01-10").to_pydatetime()
    history = [Interaction(items.ids[3], "purchase", t), Interaction(items.ids[2], "purchase", t),
               Interaction(items.ids[1], "view", t - timedelta(hours=3)), Interaction("gone", "view", t)]  # fmt: skip
    rows, gaps = space.history_arrays(history)
    assert rows.tolist() == [[2, 3, 4]]  # oldest .. newest, the unknown item left out, rows + 1
    assert gaps.tolist() == [[0, 2, 0]]  # first: nothing before it; 3 h -> log2(4) = 2; same basket -> 0


def test_cross_fitting_scores_each_training_example_with_a_model_that_never_saw_its_user(shop):
    events, items = shop
    data = build_examples(events, items, RankerConfig(item_dim=items.dim), validation_fraction=0.2)
    settings = SEQ.model_copy(update={"epochs": 3, "cross_fit_folds": 2})
    fitted = fit_sequence(data, items, settings, seed=1, device="cpu")
    scores = cross_fitted_scores(fitted, data, items, settings, seed=1, device="cpu")
    served = example_scores(fitted.model, data, items)
    training = data.target_day < data.cutoff_day
    # validation examples keep the served model (it never saw them); training ones get one of the two folds' models
    assert np.all(scores.table_of[~training] == 0) and set(np.unique(scores.table_of[training])) == {1, 2}
    assert np.allclose(scores.users[~training], served.users[~training])
    assert not np.allclose(scores.users[training], served.users[training])
    # a user's examples all come from the one fold model that left the user out
    folds = dict(zip(user_starts(data).tolist(), user_folds(data, 2, 1).tolist(), strict=True))
    for user, table in zip(data.user_start[training].tolist(), scores.table_of[training].tolist(), strict=True):
        assert table == folds[user] + 1
    cand = np.stack([data.target, (data.target + 1) % len(items)], axis=1)
    ex = np.flatnonzero(training)[:5]
    expected = np.einsum("bcd,bd->bc", scores.items[scores.table_of[ex][:, None], cand[ex]], scores.users[ex])
    assert np.allclose(scores.scores(ex, cand[ex]), expected)


def test_a_fold_trains_on_its_users_only(shop):
    events, items = shop
    data = build_examples(events, items, RankerConfig(item_dim=items.dim), validation_fraction=0.2)
    everyone = np.unique(data.event_user)
    some = everyone[::3]
    starts, _ = training_windows(data, 6, np.random.default_rng(0), some)
    assert set(starts.tolist()) == set(some.tolist())
    fitted = fit_sequence(data, items, SEQ, seed=1, device="cpu", users=some, fixed_epochs=2)
    assert len(fitted.epochs) == 2 and "ndcg@10" not in fitted.epochs[-1]  # no validation: its epochs were given


def test_a_step_cap_trains_each_epoch_on_a_random_sample_of_the_windows(shop, monkeypatch):
    events, items = shop
    data = build_examples(events, items, RankerConfig(item_dim=items.dim), validation_fraction=0.2)
    import ranker.training.sequence as sequence

    batches: list[int] = []
    real = sequence.windows

    def counted(starts, ends, length):
        batches.append(len(starts))
        return real(starts, ends, length)

    monkeypatch.setattr(sequence, "windows", counted)
    users = len(np.unique(data.event_user))
    capped = SEQ.model_copy(update={"epochs": 3, "patience": 3, "batch_size": 8, "epoch_steps": 2})
    assert users > 2 * 8  # the cap is below a full pass
    fitted = fit_sequence(data, items, capped, seed=1, device="cpu")
    # The first call builds the validation windows (every validation user at once); then 2 batches of 8 an epoch.
    assert len(fitted.epochs) == 3 and batches[1:] == [8, 8] * 3
