"""Train/serve parity: for the same user at the same moment, the service feeds a trained model exactly the inputs
training built for it (both history windows from the checkpoint, the profile from a real SQLite store, retrieval
scored as the candidate pool scores it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.settings import EventsSettings, RankerSettings, Settings, StoreSettings
from core.store import open_store
from ranker.feedback.events import EventIn
from ranker.feedback.profiles import ProfileStore
from ranker.model.candidates import history_vector, retrieval_scores
from ranker.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ranker.model.registry import profile_shortfall
from ranker.model.scoring import Candidate, Scorer
from ranker.training.examples import build_examples, history_arrays, make_batch
from ranker.training.fit import fit
from ranker.training.options import TrainOptions
from tests.builders.shop import clustered_shop

#: Short windows, so that both cut a user's history: attention reads 5 events, the features 9.
WINDOWS = dict(history_length=5, feature_history=9)
SMALL = dict(attention_dim=8, hidden_dim=8, batch_size=32, negatives=4, hard_negatives=4, in_batch_negatives=8,
             validation_examples=200, validation_fraction=0.2, epochs=1, device="cpu", seed=5)  # fmt: skip


def _shop() -> pd.DataFrame:
    """The synthetic shop, with some views among the purchases (a second event type in the histories)."""
    events, items = clustered_shop(users=24, baskets=10)
    views = events.iloc[::3].assign(type="view", ts=lambda f: f["ts"] - pd.Timedelta(hours=5))
    both = pd.concat([events, views], ignore_index=True).sort_values(["user_id", "ts"], kind="stable")
    return both.reset_index(drop=True), items


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    events, items = _shop()
    options = TrainOptions.from_settings(RankerSettings(), **WINDOWS, **SMALL)
    result = fit(events, items, options)
    path = save_checkpoint(Checkpoint(result.model, "v1", result.item_stats), tmp_path_factory.mktemp("m") / "r.pt")
    return events, items, load_checkpoint(path), options  # what the service loads: the file, not the object


def test_the_checkpoint_carries_the_history_lengths_it_was_trained_with(trained):
    _, _, checkpoint, _ = trained
    assert (checkpoint.config.history_length, checkpoint.config.feature_history) == (5, 9)
    assert checkpoint.config.history_needed == 9


def test_served_inputs_equal_the_training_inputs_for_the_same_user_and_moment(trained, tmp_path):
    events, items, checkpoint, options = trained
    config = checkpoint.config
    data = build_examples(events, items, config, validation_fraction=options.ranker.validation_fraction,
                          targets_per_basket=options.ranker.targets_per_basket, seed=options.ranker.seed)  # fmt: skip
    # A validation example (its basket is after the statistics' cutoff: nothing to leave out) with a long history.
    long = [x for x in data.validation_index if data.hist_end[x] - data.user_start[x] > config.feature_history + 3]
    ex = np.asarray([long[0]])
    user = events.loc[data.user_start[ex[0]], "user_id"]
    moment = events.loc[data.hist_end[ex[0]], "ts"]  # the basket's time: what training ranks at
    stats = checkpoint.item_stats.aligned(items.ids, items.prices)
    negatives = np.asarray([[3, 17, 42, 77, 101, 9]])
    batch = make_batch(data, ex, items.vectors, stats, config, negatives)

    # The service's side: the user's events before that moment in a real profile store, read back as served.
    settings = Settings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"), events=EventsSettings())
    store = ProfileStore(open_store(settings.store), settings)
    past = events[(events["user_id"] == user) & (events["ts"] < moment)]
    store.ingest([EventIn(user_id=user, item_id=r.item_id, type=r.type, ts=r.ts.to_pydatetime()) for r in
                  past.itertuples()])  # fmt: skip
    history = store.history(user)
    ids = [items.ids[r] for r in batch.cand_rows[0]]
    vector = history_vector(history, items, config.history_length)
    scores, _ = retrieval_scores(ids, items, vector)
    served = Scorer(checkpoint, items, threads=None).inputs(
        history, [Candidate(i, s) for i, s in zip(ids, scores, strict=True)], now=moment.tz_localize("UTC")
    )

    # Attention: the same events, types and recency buckets (training lists them oldest first).
    rows, types, recency, mask = history_arrays(data, ex, config.history_length, config.recency_buckets)
    real = mask[0]
    assert list(served.hist_rows[::-1]) == list(rows[0][real])
    assert list(served.hist_types[::-1]) == list(types[0][real])
    assert list(served.hist_recency[::-1]) == list(recency[0][real])
    # Every scalar feature but the trend: retrieval, popularity, price, repeat and co-purchase features over the
    # 9-event feature history. (Training counts the trend in the 14 days before each basket, serving the checkpoint's
    # latest 14 days: the same window, ending at the moment of ranking only when that moment is the data's end.)
    names = list(config.features)
    keep = [n for n, name in enumerate(names) if name != "trend"]
    np.testing.assert_allclose(served.features[:, keep], batch.features[0][:, keep], rtol=1e-5, atol=1e-6)


def test_a_profile_shorter_than_the_models_history_is_reported(trained):
    _, _, checkpoint, _ = trained
    assert profile_shortfall(checkpoint.config.history_needed, 9) is None
    message = profile_shortfall(checkpoint.config.history_needed, 6)
    assert "RECSEARCH_EVENTS_HISTORY_LENGTH=9" in message and "recadmin feedback rebuild-profiles" in message
