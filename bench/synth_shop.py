"""A synthetic shop of any size: a catalog and an events file the product imports with its own commands.

    python -m bench.synth_shop --items 100000 --users 50000 --events 2000000 --days 365 --seed 1 \\
        --out /tmp/shop [--vectors 384] [--format parquet|jsonl|csv] [--end 2024-12-31] [--random-ids]

writes ``catalog.<fmt>`` (``recadmin index build --catalog`` it; with ``--vectors`` add ``--vector-field vector``),
``events.<fmt>`` (``recadmin feedback import`` it) and ``manifest.json`` (parameters and counts).

The shape, all of it drawn from ``numpy.random.default_rng`` seeded per chunk, so the same parameters give the same
bytes and another seed another shop:

- departments of generic retail words (no shop's data), one category per (department, product type); categories
  have their own popularity (Zipf over a seeded order), items a Zipf-like popularity within their category;
- item text from per-department vocabularies (styles, colours, materials; scents and sizes for consumables),
  log-normal prices around a per-category price;
- users of log-normal activity with two favourite categories; sessions of views (some clicked) in a category,
  a quarter ending in a basket of several viewed items (add_to_cart then purchase, one ``session_id`` per basket);
- repeat purchases: half the users have a staple consumable they buy again (replenishment sessions);
- seasonality: a weekly cycle (busier weekends), a yearly one (peak in December) and slow growth over the span;
- ``--random-ids``: UUID-shaped event ids in random order (seeded, unique) instead of ``E0000001``... in file
  order, the rest of every event unchanged: a shop sending UUIDs inserts all over the primary-key index;
- ``--vectors DIM``: unit vectors of category structure (department centroid + category offset + item noise,
  cosine to the category centroid ~0.8), so k-NN over them finds the item's category.

Memory stays bounded: items are written ``ITEM_CHUNK`` at a time, events one block of users at a time (Parquet row
groups), and only per-item and per-user number arrays are held. ``--events`` is exact: the session rate aims a few
percent over it and the last sessions are cut.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ITEM_CHUNK = 50_000
USER_CHUNK = 5_000
FORMATS = ("parquet", "jsonl", "csv")

#: department -> (product types, consumable): generic retail words only.
DEPARTMENTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "kitchen": (("mug", "bowl", "plate", "teapot", "jug", "cutting board", "kettle", "storage jar", "colander"), False),
    "home decor": (
        ("candle holder", "vase", "picture frame", "cushion cover", "wall clock", "mirror", "lantern"),
        False,
    ),
    "garden": (("planter", "watering can", "bird feeder", "garden gloves", "trowel", "seed tray", "wind chime"), False),
    "stationery": (("notebook", "pen set", "greeting card", "wrapping paper", "sticker sheet", "journal"), False),
    "toys": (("puzzle", "building blocks", "plush bear", "kite", "board game", "toy car", "skipping rope"), False),
    "bath": (("towel", "bath mat", "soap dish", "shower curtain", "toothbrush holder", "bath robe"), False),
    "lighting": (("table lamp", "fairy lights", "lamp shade", "night light", "desk lamp"), False),
    "office": (("stapler", "desk organiser", "file folder", "mouse pad", "letter tray"), False),
    "pantry": (("coffee beans", "green tea", "pasta", "olive oil", "honey", "oat biscuits", "spice mix"), True),
    "cleaning": (("dish soap", "laundry detergent", "sponge pack", "bin bags", "glass cleaner"), True),
    "personal care": (("hand soap", "shampoo", "toothpaste", "body lotion", "lip balm"), True),
    "pet supplies": (("dog food", "cat litter", "cat treats", "bird seed", "pet shampoo"), True),
}
STYLES = ("vintage", "modern", "rustic", "classic", "nordic", "floral", "striped", "spotty", "minimal", "retro")
COLOURS = ("red", "blue", "green", "white", "black", "grey", "pink", "yellow", "navy", "cream", "teal", "orange")
MATERIALS = ("ceramic", "glass", "wooden", "cotton", "linen", "steel", "bamboo", "enamel", "stoneware", "recycled")
SCENTS = ("lemon", "lavender", "vanilla", "mint", "original", "unscented", "citrus", "berry", "rose", "ginger")
SIZES = ("small", "250g", "500g", "1kg", "pack of 6", "family size", "travel size", "refill")
CLAIMS = (
    "Makes a lovely gift.", "Easy to clean.", "Built to last.", "Great value.", "A customer favourite.",
    "Designed in our studio.", "Sold in sets.", "Fits any home.", "Gentle and effective.", "Buy more, save more.",
)  # fmt: skip

# Session shape: views per session ~ geometric(P_VIEW_STOP); clicks, baskets, favourite categories, replenishment.
P_VIEW_STOP, P_CLICK, P_BUY, P_FAVOURITE, P_STAPLE_USER, P_REPLENISH = 0.3, 0.35, 0.25, 0.6, 0.5, 0.25


@dataclass(frozen=True)
class ShopParams:
    """What to generate."""

    items: int
    users: int
    events: int
    days: int = 365
    seed: int = 0
    vectors: int | None = None
    end: str = "2024-12-31"
    #: Event ids: ``E0000001``... in file order (appends to a B-tree), or UUID-shaped ids in random order (as shops
    #: that send UUIDs: inserts all over the primary-key index), seeded, unique, nothing else changed.
    random_ids: bool = False


@dataclass
class _Shop:
    """Per-category and per-item numbers, the only state held whole (O(items + categories))."""

    departments: list[str]
    nouns: list[str]
    consumable: np.ndarray  # per category
    cat_start: np.ndarray
    cat_size: np.ndarray
    cat_cdf: np.ndarray  # category popularity (cumulative)
    item_cat: np.ndarray
    price: np.ndarray
    sku: np.ndarray  # item index -> its id number (a seeded permutation: ids say nothing of the category)
    centroids: np.ndarray | None


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _categories(p: ShopParams) -> _Shop:
    rng = _rng(p.seed, 0)
    cats = [(d, n, c) for d, (nouns, c) in DEPARTMENTS.items() for n in nouns]
    order = rng.permutation(len(cats))[: max(1, min(len(cats), p.items))]
    cats = [cats[i] for i in order]
    k = len(cats)
    popularity = 1.0 / np.arange(1, k + 1)  # Zipf over the seeded order
    share = rng.lognormal(0.0, 0.5, k) * popularity**0.5  # popular categories carry more items, not all
    size = np.maximum(1, np.floor(share / share.sum() * p.items)).astype(np.int64)
    size[0] += p.items - size.sum()
    if size[0] < 1:  # more categories than a tiny catalog can hold one item each: trim from the largest
        size = np.ones(k, dtype=np.int64)
        size[0] += p.items - k
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    item_cat = np.repeat(np.arange(k), size)
    base = rng.lognormal(np.log(8.0), 0.8, k)
    price = np.round(base[item_cat] * rng.lognormal(0.0, 0.35, p.items), 2).clip(0.29)
    centroids = None
    if p.vectors:
        dept_names = sorted({d for d, _, _ in cats})
        dept = {d: rng.normal(size=p.vectors) for d in dept_names}
        centroids = np.stack([dept[d] + 0.8 * rng.normal(size=p.vectors) for d, _, _ in cats])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    return _Shop(
        [d for d, _, _ in cats], [n for _, n, _ in cats], np.array([c for _, _, c in cats]), start, size,
        np.cumsum(popularity) / popularity.sum(), item_cat, price, rng.permutation(p.items), centroids,
    )  # fmt: skip


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width)).astype(object)


_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 (xor-shifts and odd multipliers are invertible)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX[0]
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX[1]
    return x ^ (x >> np.uint64(31))


def _random_ids(seed: int, numbers: np.ndarray) -> np.ndarray:
    """UUID-shaped ids (``8-4-4-4-12`` lower-case hex) for event numbers, in no order, the same for the same seed.

    The first 64 bits are a keyed bijection of the number, so distinct numbers never share an id; the last 64 are a
    second keyed mix. Vectorised: 200k ids in a few tens of milliseconds."""
    keys = _rng(seed, 5).integers(0, 2**63, 2, dtype=np.uint64)
    n = np.asarray(numbers, dtype=np.uint64)
    with np.errstate(over="ignore"):
        halves = np.stack([_mix64(n + keys[0]), _mix64(_mix64(n ^ keys[1]) + keys[0])], axis=1)
    hexed = np.frombuffer(halves.astype(">u8").tobytes().hex().encode("ascii"), dtype=np.uint8).reshape(-1, 32)
    dashed = np.full((len(n), 36), ord("-"), dtype=np.uint8)
    for out, (lo, hi) in zip((0, 9, 14, 19, 24), ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)), strict=True):
        dashed[:, out : out + hi - lo] = hexed[:, lo:hi]
    return dashed.view("S36").ravel().astype(str).astype(object)


def catalog_chunks(p: ShopParams, shop: _Shop):
    """The catalog as frames of at most ``ITEM_CHUNK`` items (columns id, title, description, category, price,
    and ``vector`` as an (n, dim) float32 array beside the frame)."""
    width = len(str(p.items))
    for number, lo in enumerate(range(0, p.items, ITEM_CHUNK)):
        rng = _rng(p.seed, 1, number)
        idx = np.arange(lo, min(p.items, lo + ITEM_CHUNK))
        cat = shop.item_cat[idx]
        n = len(idx)
        picks = [rng.integers(0, len(v), n) for v in (STYLES, COLOURS, MATERIALS, SCENTS, SIZES, CLAIMS, CLAIMS)]
        titles, descriptions = [], []
        for j in range(n):
            c = cat[j]
            noun, dept = shop.nouns[c], shop.departments[c]
            style, colour, material = STYLES[picks[0][j]], COLOURS[picks[1][j]], MATERIALS[picks[2][j]]
            if shop.consumable[c]:
                scent, size = SCENTS[picks[3][j]], SIZES[picks[4][j]]
                titles.append(f"{scent} {noun} {size}")
                descriptions.append(
                    f"{scent.capitalize()} {noun}, {size}, from our {dept} range. {CLAIMS[picks[5][j]]}"
                )
            else:
                titles.append(f"{style} {colour} {material} {noun}")
                descriptions.append(
                    f"A {style} {noun} in {colour} {material}, part of our {dept} range. "
                    f"{CLAIMS[picks[5][j]]} {CLAIMS[picks[6][j]]}"
                )
        frame = pd.DataFrame({
            "id": _ids("SKU", shop.sku[idx], width), "title": titles, "description": descriptions,
            "category": [f"{shop.departments[c]} > {shop.nouns[c]}" for c in cat], "price": shop.price[idx],
        })  # fmt: skip
        vectors = None
        if shop.centroids is not None:
            noise = rng.normal(scale=0.75 / np.sqrt(p.vectors), size=(n, p.vectors))
            v = shop.centroids[cat] + noise
            vectors = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
        yield frame, vectors


def _day_weights(p: ShopParams) -> tuple[np.ndarray, np.datetime64]:
    """Probability of each day: weekly cycle, yearly cycle (peak mid-December), slow growth."""
    end = np.datetime64(p.end, "D")
    days = end - np.arange(p.days, 0, -1) + 1
    dow = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    weekly = np.array([0.9, 0.85, 0.9, 0.95, 1.05, 1.2, 1.15])[dow]
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
    yearly = 1.0 + 0.35 * np.cos(2 * np.pi * (doy - 350) / 365.25)
    growth = 1.0 + 0.3 * np.arange(p.days) / max(1, p.days)
    w = weekly * yearly * growth
    return np.cumsum(w) / w.sum(), days[0].astype("datetime64[s]")


HOURS = np.array([1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 9, 10, 10, 9, 9, 9, 10, 11, 12, 12, 10, 6, 3], dtype=float)
HOUR_CDF = np.cumsum(HOURS) / HOURS.sum()


class _Users:
    """Per-user numbers: activity, two favourite categories, a staple consumable item (or -1)."""

    def __init__(self, p: ShopParams, shop: _Shop):
        rng = _rng(p.seed, 2)
        self.activity = rng.lognormal(0.0, 1.0, p.users)
        self.favourite = np.searchsorted(shop.cat_cdf, rng.random((p.users, 2)), side="right")
        consumables = np.flatnonzero(shop.consumable)
        self.staple = np.full(p.users, -1, dtype=np.int64)
        if len(consumables):
            has = rng.random(p.users) < P_STAPLE_USER
            cat = consumables[rng.integers(0, len(consumables), p.users)]
            self.staple = np.where(has, _zipf_items(rng, shop, cat), -1)


def _zipf_items(rng: np.random.Generator, shop: _Shop, cat: np.ndarray) -> np.ndarray:
    """An item of each category in ``cat``, rank r drawn with P(rank < r) = log(1 + r) / log(1 + size)."""
    size = shop.cat_size[cat]
    rank = np.floor(np.exp(rng.random(len(cat)) * np.log1p(size))).astype(np.int64) - 1
    return shop.cat_start[cat] + np.minimum(rank, size - 1)


def _sessions(rng, p: ShopParams, shop: _Shop, users: _Users, user_ids: np.ndarray, rate: float):
    """One block of users' sessions as event arrays (user, item, type code, seconds since the first day, session)."""
    n_sessions = rng.poisson(users.activity[user_ids] * rate)
    su = np.repeat(user_ids, n_sessions)
    s = len(su)
    staple = users.staple[su]
    replenish = (staple >= 0) & (rng.random(s) < P_REPLENISH)
    own = users.favourite[su, rng.integers(0, 2, s)]
    cat = np.where(rng.random(s) < P_FAVOURITE, own, np.searchsorted(shop.cat_cdf, rng.random(s), side="right"))
    views = np.where(replenish, 1, rng.geometric(P_VIEW_STOP, s))
    buy = replenish | (rng.random(s) < P_BUY)
    basket = np.where(replenish, 1, np.minimum(views, 1 + rng.poisson(1.2, s)))
    # views: the session's category, Zipf within it (a replenishment views its staple)
    vs = np.repeat(np.arange(s), views)
    pos = np.arange(len(vs)) - np.repeat(np.cumsum(views) - views, views)
    item = np.where(replenish[vs], staple[vs], _zipf_items(rng, shop, cat[vs]))
    click = (rng.random(len(vs)) < P_CLICK) & ~replenish[vs]
    carted = buy[vs] & (pos < basket[vs])
    # (session, phase, order) keys: views and their clicks in turn, then the basket's carts, then its purchases
    parts = [
        (vs, item, 0, 2 * pos), (vs[click], item[click], 1, 2 * pos[click] + 1),
        (vs[carted], item[carted], 2, 1000 + pos[carted]), (vs[carted], item[carted], 3, 2000 + pos[carted]),
    ]  # fmt: skip
    sess = np.concatenate([a for a, _, _, _ in parts])
    items = np.concatenate([b for _, b, _, _ in parts])
    kind = np.concatenate([np.full(len(a), t, dtype=np.int8) for a, _, t, _ in parts])
    order = np.concatenate([o for _, _, _, o in parts])
    sort = np.lexsort((order, sess))
    sess, items, kind = sess[sort], items[sort], kind[sort]
    day_cdf, _ = _day_weights(p)
    day = np.searchsorted(day_cdf, rng.random(s), side="right")
    hour = np.searchsorted(HOUR_CDF, rng.random(s), side="right")
    start = day * 86400 + hour * 3600 + rng.integers(0, 3600, s)
    gaps = np.round(5 + rng.exponential(45.0, len(sess))).astype(np.int64)
    steps = np.cumsum(gaps)
    first = np.searchsorted(sess, np.arange(s))
    before = np.where(first > 0, steps[np.maximum(first - 1, 0)], 0)
    seconds = start[sess] + steps - before[sess]
    return su[sess], items, kind, seconds, sess


TYPES = np.array(["view", "click", "add_to_cart", "purchase"], dtype=object)


def event_chunks(p: ShopParams, shop: _Shop):
    """The events as frames, one block of ``USER_CHUNK`` users at a time, exactly ``p.events`` rows in all."""
    users = _Users(p, shop)
    per_session = _events_per_session(p, shop, users)
    rate = 1.03 * p.events / per_session / users.activity.sum()  # a little over: the last sessions are cut
    _, first_day = _day_weights(p)
    uw, iw = len(str(p.users)), len(str(p.items))
    written, sessions, number = 0, 0, 0
    blocks = range(0, p.users, USER_CHUNK)
    while written < p.events:  # one pass over the users, and more sessions of them again while short of events
        lo = blocks[number % len(blocks)]
        rng = _rng(p.seed, 3, number)
        number += 1
        block = np.arange(lo, min(p.users, lo + USER_CHUNK))
        user, item, kind, seconds, sess = _sessions(rng, p, shop, users, block, rate)
        keep = min(len(user), p.events - written)
        user, item, kind, seconds, sess = user[:keep], item[:keep], kind[:keep], seconds[:keep], sess[:keep]
        consumable = shop.consumable[shop.item_cat[item]]
        quantity = np.where(kind >= 2, 1 + rng.poisson(np.where(consumable, 1.0, 0.2)), np.nan)
        frame = pd.DataFrame({
            "event_id": _event_ids(p, np.arange(written, written + keep)),
            "user_id": _ids("U", user, uw), "item_id": _ids("SKU", shop.sku[item], iw), "type": TYPES[kind],
            "ts": first_day + seconds.astype("timedelta64[s]"), "quantity": quantity,
            "value": np.where(kind == 3, np.round(quantity * shop.price[item], 2), np.nan),
            "session_id": _ids("S", sessions + sess, 9),
        })  # fmt: skip
        sessions += int(sess.max()) + 1 if keep else 0
        written += keep
        yield frame


def _event_ids(p: ShopParams, numbers: np.ndarray) -> np.ndarray:
    return _random_ids(p.seed, numbers) if p.random_ids else _ids("E", numbers, len(str(p.events)))


def _events_per_session(p: ShopParams, shop: _Shop, users: _Users) -> float:
    """Mean events of a session, from a seeded sample of sessions (sets the session rate)."""
    rng = _rng(p.seed, 4)
    sample = rng.integers(0, p.users, 20_000)
    _, _, _, _, sess = _sessions(rng, p, shop, users, sample, 5.0 / users.activity[sample].mean())
    return len(sess) / max(1, int(sess.max()) + 1) if len(sess) else 1.0


class _Writer:
    """Appends frames to one file: Parquet row groups (pyarrow), JSON lines, or CSV."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt, self.parquet = path, fmt, None
        path.unlink(missing_ok=True)

    def write(self, frame: pd.DataFrame, vectors: np.ndarray | None = None) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if vectors is not None:
                flat = pa.array(vectors.ravel(), type=pa.float32())
                table = table.append_column("vector", pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self.parquet.write_table(table)
            return
        if vectors is not None:
            frame = frame.assign(vector=list(vectors) if self.fmt == "jsonl" else _vector_texts(vectors))
        if "ts" in frame:
            frame = frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
        with self.path.open("a", encoding="utf-8", newline="") as f:
            if self.fmt == "jsonl":
                text = frame.to_json(orient="records", lines=True, double_precision=7)
                f.write(text if not text or text.endswith("\n") else text + "\n")
            else:
                frame.to_csv(f, index=False, header=f.tell() == 0)

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()


def _vector_texts(vectors: np.ndarray) -> list[str]:
    return [" ".join(f"{x:.6g}" for x in row) for row in vectors]


def generate(p: ShopParams, out: Path, fmt: str = "parquet", progress=None) -> dict:
    """Write ``catalog.<fmt>``, ``events.<fmt>`` and ``manifest.json`` under ``out``; returns the manifest.
    ``progress(stage, done, total)`` is called after every chunk."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if min(p.items, p.users, p.days) < 1 or p.events < 0:
        raise ValueError("items, users and days must be at least 1, events at least 0")
    out.mkdir(parents=True, exist_ok=True)
    shop = _categories(p)
    catalog, events = out / f"catalog.{fmt}", out / f"events.{fmt}"
    writer = _Writer(catalog, fmt)
    done = 0
    for frame, vectors in catalog_chunks(p, shop):
        writer.write(frame, vectors)
        done += len(frame)
        if progress:
            progress("catalog", done, p.items)
    writer.close()
    writer, counts = _Writer(events, fmt), dict.fromkeys(TYPES.tolist(), 0)
    done = 0
    for frame in event_chunks(p, shop):
        writer.write(frame)
        for kind, n in frame["type"].value_counts().items():
            counts[kind] += int(n)
        done += len(frame)
        if progress:
            progress("events", done, p.events)
    writer.close()
    manifest = {
        "params": asdict(p), "format": fmt, "catalog": catalog.name, "events": events.name, "items": p.items,
        "categories": len(shop.nouns), "events_written": done, "event_types": counts,
        "vector_field": "vector" if p.vectors else None,
        "import": {
            "catalog": f"recadmin index build --catalog {catalog}" + (" --vector-field vector" if p.vectors else ""),
            "events": f"recadmin feedback import {events}",
        },
    }  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vectors", type=int, default=None, metavar="DIM", help="write a unit vector per item")
    parser.add_argument("--format", choices=FORMATS, default="parquet")
    parser.add_argument("--end", default="2024-12-31", help="last day of events (YYYY-MM-DD)")
    parser.add_argument(
        "--random-ids",
        action="store_true",
        help="UUID-shaped event ids in random order (seeded) instead of E0000001... in file order",
    )
    args = parser.parse_args(argv)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    params = ShopParams(
        args.items, args.users, args.events, args.days, args.seed, args.vectors, args.end, args.random_ids
    )
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        manifest = generate(params, args.out, args.format, progress)
    print(json.dumps({k: manifest[k] for k in ("items", "categories", "events_written", "event_types", "import")}))


if __name__ == "__main__":
    main()
