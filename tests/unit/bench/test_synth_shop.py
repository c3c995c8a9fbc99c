"""The synthetic shop generator: deterministic by seed, exact counts, the shape it promises, and files the
product's own readers take without a reject."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench import synth_shop
from bench.synth_shop import ShopParams, generate
from indexer.catalog import VectorColumn, read_catalog
from ranker.feedback.frames import read_event_file

PARAMS = ShopParams(items=600, users=120, events=6000, days=90, seed=3, vectors=8)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    return out, generate(PARAMS, out, "parquet")


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_same_seed_same_bytes_other_seed_other_shop(tmp_path, fmt):
    small = ShopParams(items=200, users=40, events=1500, days=30, seed=5, vectors=4)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(small, a, fmt)
    generate(small, b, fmt)
    generate(ShopParams(**{**small.__dict__, "seed": 6}), c, fmt)
    for name in (f"catalog.{fmt}", f"events.{fmt}"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()


def test_counts_are_exact_and_every_event_names_a_catalog_item(shop):
    out, manifest = shop
    catalog = pd.read_parquet(out / "catalog.parquet")
    events = pd.read_parquet(out / "events.parquet")
    assert len(catalog) == PARAMS.items and catalog["id"].is_unique
    assert len(events) == PARAMS.events == manifest["events_written"] and events["event_id"].is_unique
    assert set(events["item_id"]) <= set(catalog["id"])
    assert set(events["type"]) == {"view", "click", "add_to_cart", "purchase"}
    assert events["user_id"].nunique() > PARAMS.users // 2
    end = pd.Timestamp(PARAMS.end) + pd.Timedelta(days=1, hours=1)
    assert events["ts"].min() >= pd.Timestamp(PARAMS.end) - pd.Timedelta(days=PARAMS.days) and events["ts"].max() < end


def test_shape_popularity_baskets_sessions_repeats(shop):
    out, _ = shop
    events = pd.read_parquet(out / "events.parquet")
    catalog = pd.read_parquet(out / "catalog.parquet")
    views = events[events["type"] == "view"]["item_id"].value_counts()
    # skewed popularity: the top 5% of items draw far more than 5% of the views
    assert views.iloc[: len(catalog) // 20].sum() > 0.25 * views.sum()
    purchases = events[events["type"] == "purchase"]
    sizes = purchases.groupby("session_id").size()
    assert sizes.max() >= 3 and (sizes > 1).mean() > 0.2  # baskets of several items
    # every purchase follows its add_to_cart, after the session's views, in the same session
    carts = events[events["type"] == "add_to_cart"].set_index(["session_id", "item_id"])["ts"]
    bought = purchases.set_index(["session_id", "item_id"])["ts"]
    assert (bought >= carts.reindex(bought.index)).all()
    # repeat purchases of consumables: some user buys the same item in several sessions
    repeats = purchases.groupby(["user_id", "item_id"])["session_id"].nunique()
    assert (repeats >= 3).sum() > 5
    consumable = catalog.set_index("id")["category"].str.split(" > ").str[0].isin(synth_shop_consumables())
    repeated_items = repeats[repeats >= 3].index.get_level_values("item_id")
    assert consumable.reindex(repeated_items).mean() > 0.8
    # weekly seasonality: weekends are busier than the weekdays' mean
    by_day = events["ts"].dt.day_of_week.value_counts()
    assert by_day[[5, 6]].mean() > by_day[[0, 1, 2, 3]].mean()


def synth_shop_consumables() -> set[str]:
    return {d for d, (_, consumable) in synth_shop.DEPARTMENTS.items() if consumable}


def test_vectors_are_unit_and_cluster_by_category(shop):
    out, _ = shop
    catalog = pd.read_parquet(out / "catalog.parquet")
    vectors = np.stack(catalog["vector"].to_numpy())
    assert vectors.shape == (PARAMS.items, PARAMS.vectors) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    same = catalog["category"].to_numpy()[:, None] == catalog["category"].to_numpy()[None, :]
    np.fill_diagonal(same, False)
    assert sims[same].mean() > 0.5 > sims[~same].mean()


def test_the_products_readers_take_both_files_without_a_reject(shop):
    out, _ = shop
    read = read_catalog(out / "catalog.parquet", vectors=VectorColumn("vector"))
    assert len(read.items) == PARAMS.items and not read.rejects
    assert all(it.vector is not None and it.vector.size == PARAMS.vectors for it in read.items)
    events = read_event_file(out / "events.parquet")
    assert events.rejected == 0 and events.repeated == 0 and len(events.frame) == PARAMS.events


def test_output_is_written_in_chunks(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(synth_shop, "ITEM_CHUNK", 100)
    monkeypatch.setattr(synth_shop, "USER_CHUNK", 10)
    generate(ShopParams(items=450, users=50, events=2000, days=30, seed=1), tmp_path, "parquet")
    assert pq.ParquetFile(tmp_path / "catalog.parquet").num_row_groups == 5
    assert pq.ParquetFile(tmp_path / "events.parquet").num_row_groups >= 5
    assert pq.ParquetFile(tmp_path / "events.parquet").metadata.num_rows == 2000


def test_random_ids_are_seeded_unique_uuid_shaped_and_change_nothing_else(tmp_path):
    small = ShopParams(items=200, users=40, events=3000, days=30, seed=5)
    plain, a, b, other = (tmp_path / name for name in ("plain", "a", "b", "other"))
    generate(small, plain)
    generate(ShopParams(**{**small.__dict__, "random_ids": True}), a)
    generate(ShopParams(**{**small.__dict__, "random_ids": True}), b)
    generate(ShopParams(**{**small.__dict__, "random_ids": True, "seed": 6}), other)
    assert (a / "events.parquet").read_bytes() == (b / "events.parquet").read_bytes()
    sequential, random = pd.read_parquet(plain / "events.parquet"), pd.read_parquet(a / "events.parquet")
    ids = random["event_id"]
    assert ids.is_unique and len(ids) == small.events
    assert ids.str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").all()
    assert not ids.is_monotonic_increasing and not ids.is_monotonic_decreasing
    # in no order: about half of the neighbours in file order are descending
    assert 0.4 < (ids.to_numpy()[1:] < ids.to_numpy()[:-1]).mean() < 0.6
    assert set(ids).isdisjoint(pd.read_parquet(other / "events.parquet")["event_id"])
    pd.testing.assert_frame_equal(random.drop(columns="event_id"), sequential.drop(columns="event_id"))
    assert (a / "catalog.parquet").read_bytes() == (plain / "catalog.parquet").read_bytes()
    assert read_event_file(a / "events.parquet").rejected == 0


def test_random_ids_never_repeat_across_chunks():
    numbers = np.arange(2_000_000, dtype=np.uint64)
    ids = synth_shop._random_ids(1, numbers)
    assert len(set(ids)) == len(numbers)
    np.testing.assert_array_equal(synth_shop._random_ids(1, numbers[1_000_000:]), ids[1_000_000:])


def test_random_ids_from_the_command_line(tmp_path):
    synth_shop.main(["--items", "50", "--users", "10", "--events", "400", "--out", str(tmp_path), "--random-ids"])
    events = pd.read_parquet(tmp_path / "events.parquet")
    assert len(events) == 400 and events["event_id"].str.len().eq(36).all() and events["event_id"].is_unique
    assert json.loads((tmp_path / "manifest.json").read_text())["params"]["random_ids"] is True
