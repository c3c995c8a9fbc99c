"""Simulated shoppers for online experiments: held-out users of an events file replayed against a running service.

Each shopper is a user with history before ``cutoff`` (in the store: what the service ranks from) and the items they
bought after it (``wanted``; Online Retail's customers mostly buy again what they bought before): the known
preference. One session asks ``/v1/recommend`` for ``k`` items
and acts on the list by a cascade-free position model: the item at place ``r`` is looked at with probability
``1 / log2(r + 1)``; a wanted item looked at is clicked with ``p_click_wanted``, any other with ``p_click_other``;
a clicked wanted item is bought with ``p_buy`` (its price as the value). Clicks and purchases go to ``/v1/events``
with the answer's ``query_id``, so the service's UBI attribution and ``recadmin experiment report`` see them.

    python -m bench.sim_shopper --url http://127.0.0.1:8000 --events online_retail.parquet --cutoff 2011-10-01 \\
        --sessions 600 --seed 1

runs ``--sessions`` sessions against the experiment the service serves and prints the report's verdict. Set
``RECSEARCH_EXPERIMENTS_CHECK_S`` low on the service to switch experiments quickly. :func:`sessions_needed` and
:func:`false_positive_rate` are the docs' figures (docs/experiments.md); the latter runs in-process on recorded lists.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Preference:
    """The shoppers' known behaviour."""

    p_click_wanted: float = 0.9
    p_click_other: float = 0.02
    p_buy: float = 0.5


@dataclass(frozen=True)
class Shopper:
    user_id: str
    wanted: frozenset[str]


def split_users(frame: pd.DataFrame, cutoff: datetime, catalog: set[str] | None = None, min_wanted: int = 1,
                new_only: bool = False) -> tuple[pd.DataFrame, list[Shopper]]:  # fmt: skip
    """The events before ``cutoff`` (to import: the shoppers' history, and what a model trains on) and the held-out
    shoppers: users with history before it who bought at least ``min_wanted`` items after it (in ``catalog`` when
    given; with ``new_only`` only items they had not bought before: a shopper who never rebuys)."""
    before = frame[frame["ts"] < cutoff]
    after = frame[(frame["ts"] >= cutoff) & (frame["type"] == "purchase")]
    seen = before.groupby("user_id")["item_id"].agg(set)
    shoppers = []
    for user, items in after.groupby("user_id")["item_id"]:
        if user not in seen.index:
            continue
        wanted = {i for i in items if not (new_only and i in seen[user]) and (catalog is None or i in catalog)}
        if len(wanted) >= min_wanted:
            shoppers.append(Shopper(str(user), frozenset(wanted)))
    return before, sorted(shoppers, key=lambda s: s.user_id)


def act(shopper: Shopper, ids: Sequence[str], rng: random.Random, pref: Preference) -> list[tuple[str, str]]:
    """(item, event type) of what ``shopper`` does with the list ``ids``."""
    out = []
    for place, item in enumerate(ids, start=1):
        if rng.random() >= 1 / math.log2(place + 1):
            continue
        wanted = item in shopper.wanted
        if rng.random() < (pref.p_click_wanted if wanted else pref.p_click_other):
            out.append((item, "click"))
            if wanted and rng.random() < pref.p_buy:
                out.append((item, "purchase"))
    return out


def run_sessions(client, shoppers: Sequence[Shopper], sessions: int, *, seed: int = 0, k: int = 10,
                 prices: dict[str, float] | None = None, pref: Preference = Preference(),
                 progress: Callable[[int], None] | None = None) -> dict[str, int]:  # fmt: skip
    """``sessions`` sessions of ``shoppers`` (each once, in a seeded order, then again) against the service behind
    ``client`` (an ``httpx.Client`` with its base URL, or FastAPI's TestClient). Counts of sessions and events."""
    rng = random.Random(seed)
    order = list(shoppers)
    rng.shuffle(order)
    counts = {"sessions": 0, "click": 0, "purchase": 0}
    now = datetime.now(UTC)
    for n in range(sessions):
        shopper = order[n % len(order)]
        answer = client.get(f"/v1/recommend/{shopper.user_id}", params={"k": k})
        answer.raise_for_status()
        body = answer.json()
        done = act(shopper, [r["id"] for r in body["results"]], rng, pref)
        events = [
            {"user_id": shopper.user_id, "item_id": item, "type": kind, "query_id": body["query_id"],
             "ts": (now + timedelta(milliseconds=n)).isoformat(),
             **({"quantity": 1, "value": (prices or {}).get(item, 1.0)} if kind == "purchase" else {})}
            for item, kind in done
        ]  # fmt: skip
        if events:
            client.post("/v1/events", json={"events": events}).raise_for_status()
        counts["sessions"] += 1
        for _, kind in done:
            counts[kind] += 1
        if progress:
            progress(1)
    return counts


def false_positive_rate(
    lists: dict[str, Sequence[str]],
    shoppers: Sequence[Shopper],
    *,
    runs: int = 200,
    sessions: int = 400,
    alpha: float = 0.05,
    pref: Preference = Preference(),
) -> float:
    """A-vs-A in-process: both teams have the same list (``lists``: user -> the list one version served), each run
    a new experiment name (a new coin) and new shopper randomness; the share of runs whose sign test on clicks has
    p < ``alpha``. Near ``alpha`` when the method does not invent differences."""
    from ranker.experiments import CONTROL, TREATMENT, seed_of, sign_test, team_draft

    by_user = {s.user_id: s for s in shoppers if s.user_id in lists}
    users = sorted(by_user)
    rejected = 0
    for run in range(runs):
        rng = random.Random(run)
        wins = {CONTROL: 0, TREATMENT: 0}
        for n in range(sessions):
            shopper = by_user[users[rng.randrange(len(users))]]
            mixed = team_draft(lists[shopper.user_id], lists[shopper.user_id],
                               seed_of(f"aa-{run}", shopper.user_id, f"recommend-{n}"))  # fmt: skip
            team = dict(zip(mixed.ids, mixed.teams, strict=True))
            clicked = [team[i] for i, kind in act(shopper, mixed.ids, rng, pref) if kind == "click"]
            c, t = clicked.count(CONTROL), clicked.count(TREATMENT)
            if c != t:
                wins[TREATMENT if t > c else CONTROL] += 1
        rejected += sign_test(wins[TREATMENT], wins[CONTROL]) < alpha
    return rejected / runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="The running service, e.g. http://127.0.0.1:8000.")
    parser.add_argument("--events", type=Path, required=True, help="The events file (Online Retail, or any format).")
    parser.add_argument("--cutoff", required=True, help="Held-out shoppers bought after this date (YYYY-MM-DD).")
    parser.add_argument("--sessions", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)

    import httpx
    from rich.progress import Progress

    from ranker.feedback import events_frame_from_file

    frame = events_frame_from_file(args.events)
    _, shoppers = split_users(frame, datetime.fromisoformat(args.cutoff))
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    with httpx.Client(base_url=args.url, headers=headers, timeout=30) as client, Progress() as bar:
        task = bar.add_task("shopper sessions", total=args.sessions)
        done = run_sessions(client, shoppers, args.sessions, seed=args.seed,
                            progress=lambda n: bar.advance(task, n))  # fmt: skip
    print(f"{len(shoppers):,} held-out shoppers; {done}; now: recadmin experiment report NAME")


if __name__ == "__main__":
    main()
