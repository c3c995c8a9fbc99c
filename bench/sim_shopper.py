"""Simulated shoppers for online experiments: held-out users of an events file replayed against a running service.

Each shopper is a user with history before ``cutoff`` (in the store: what the service ranks from) and the items they
bought after it (``wanted``; Online Retail's customers mostly buy again what they bought before): the known
preference. One session asks ``/v1/recommend`` for ``k`` items
and acts on the list by a cascade-free position model: the item at place ``r`` is looked at with probability
``1 / log2(r + 1)``; a wanted item looked at is clicked with ``p_click_wanted``, any other with ``p_click_other``;
a clicked wanted item is bought with ``p_buy`` (its price as the value). Clicks and purchases go to ``/v1/events``
with the answer's ``query_id``, so the service's UBI attribution and ``recadmin experiment report`` see them.

    python -m bench.sim_shopper --url http://127.0.0.1:8000 --events online_retail.parquet --cutoff 2011-11-01 \\
        --sessions 600 [--start NAME --control v1 --treatment v2 [--mode ab] [--json report.json]]

runs ``--sessions`` sessions against whatever the service serves (then: ``recadmin experiment report NAME``); with
``--start`` it starts experiment NAME itself (in the store of ``RECSEARCH_STORE_URL``, which the service must share),
waits until the service serves it, runs the sessions, stops it and prints the report's verdict. Set
``RECSEARCH_EXPERIMENTS_CHECK_S`` low on the service to switch experiments quickly. The catalog index
(``RECSEARCH_OPENSEARCH_INDEX_ALIAS``) gives each item's price: a purchase's value (none without a price).
:func:`false_positive_rate` runs A-vs-A in-process on recorded lists; ``bench/sim_experiment.py`` runs whole
experiments in-process for the figures of docs/experiments.md.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from core.errors import ConfigError, InputError


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
                 prices: dict[str, float | None] | None = None, pref: Preference = Preference(),
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
             **(_purchase(item, prices) if kind == "purchase" else {})}
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


def _purchase(item: str, prices: dict[str, float | None] | None) -> dict:
    price = (prices or {}).get(item)
    return {"quantity": 1, **({"value": float(price)} if price is not None else {})}


def catalog_items(settings) -> dict[str, float | None]:
    """Every item of the catalog index (``RECSEARCH_OPENSEARCH_INDEX_ALIAS``) with its ``price`` (None without one):
    the value of a simulated purchase."""
    from core.opensearch.client import make_client
    from core.opensearch.documents import read_items

    o = settings.opensearch
    docs = read_items(make_client(o), o.index_alias, ["price"], o.url)
    return {i: (float(p) if p is not None else None) for i, p in zip(docs.ids, docs.columns["price"], strict=True)}


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


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake in one line (no usage block): ``sim_shopper: error: ...``, exit 2."""

    def error(self, message: str):
        self.exit(2, f"sim_shopper: error: {message} (--help lists the options)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m bench.sim_shopper", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="The running service, e.g. http://127.0.0.1:8000.")
    p.add_argument("--events", type=Path, required=True, help="The events file (Online Retail, or any format).")
    p.add_argument("--cutoff", type=_date, required=True, help="Held-out shoppers bought after this date (YYYY-MM-DD).")
    p.add_argument("--sessions", type=_positive, default=600, help="Shopper sessions to run (600).")
    p.add_argument("--seed", type=int, default=1, help="Shopper order and randomness (1).")
    p.add_argument("--k", type=_positive, default=10, help="Items asked for per session (10).")
    p.add_argument("--api-key", default=None, help="The service's read and write key, when it has keys.")
    p.add_argument("--start", metavar="NAME", default=None,
                   help="Start experiment NAME between --control and --treatment first (same store as the service: "
                   "RECSEARCH_STORE_URL), stop it after the sessions and print its report.")  # fmt: skip
    p.add_argument("--control", default=None, help="With --start: the control version (e.g. v3).")
    p.add_argument("--treatment", default=None, help="With --start: the treatment version (e.g. v4).")
    p.add_argument("--mode", choices=("interleave", "ab"), default="interleave", help="With --start (interleave).")
    p.add_argument("--wait-s", type=float, default=None,
                   help="With --start: how long to wait for the service to serve the experiment (default twice "
                   "RECSEARCH_EXPERIMENTS_CHECK_S, plus 5).")  # fmt: skip
    p.add_argument("--json", type=Path, default=None, help="With --start: write the report as JSON here.")
    p.add_argument("--no-verdict", action="store_true",
                   help="With --start: do not print the verdict (the caller runs `recadmin experiment report` "
                   "next, which prints it with its tables).")  # fmt: skip
    return p


def _date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number above 0: {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> dict:
    """The command line; returns what it printed as a dict (tests). A mistake is one line on stderr, exit 2 (usage)
    or 1 (the service, the store or a file)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.start and not (args.control and args.treatment):
        parser.error("--start needs --control and --treatment")
    if not args.start and (args.control or args.treatment or args.json):
        parser.error("--control, --treatment and --json go with --start NAME")
    if not args.events.is_file():
        parser.error(f"argument --events: no such file: {args.events}")
    import httpx

    from core.errors import RecSearchError

    try:
        return _run(args)
    except RecSearchError as e:
        print(f"sim_shopper: error: {e}", file=sys.stderr)
    except httpx.HTTPError as e:
        print(f"sim_shopper: error: the service at {args.url}: {e}", file=sys.stderr)
    raise SystemExit(1)


def _run(args: argparse.Namespace) -> dict:
    import httpx
    from rich.progress import Progress

    from core.settings import Settings
    from ranker.feedback import events_frame_from_file

    settings = Settings()  # from the environment, as the service's: the same store and index
    frame = events_frame_from_file(args.events)
    catalog = catalog_items(settings)
    _, shoppers = split_users(frame, args.cutoff, catalog=set(catalog))
    if not shoppers:
        raise InputError(f"no user has history before {args.cutoff:%Y-%m-%d} and bought a catalog item after it",
                         path=str(args.events), field="cutoff")  # fmt: skip
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    out: dict = {"shoppers": len(shoppers)}
    with httpx.Client(base_url=args.url, headers=headers, timeout=30) as client:
        if args.start:
            _start(settings, client, args, shoppers)
        try:
            with Progress() as bar:
                task = bar.add_task("shopper sessions", total=args.sessions)
                out.update(run_sessions(client, shoppers, args.sessions, seed=args.seed, k=args.k, prices=catalog,
                                        progress=lambda n: bar.advance(task, n)))  # fmt: skip
        finally:
            if args.start:
                from ranker.experiments import stop_experiment

                stop_experiment(settings, args.start)
    print(f"{len(shoppers):,} held-out shoppers; {out['sessions']:,} sessions, {out['click']:,} clicks, "
          f"{out['purchase']:,} purchases")  # fmt: skip
    if not args.start:
        print("now: recadmin experiment report NAME")
        return out
    report = _report(settings, args.start, args.sessions)
    from ranker.experiments import verdict, write_json

    if not args.no_verdict:
        print(verdict(report))
    if args.json:
        write_json(report, args.json)
    out["report"] = report
    return out


def _start(settings, client, args: argparse.Namespace, shoppers: Sequence[Shopper]) -> None:
    """Start the experiment, then ask until the service serves it: two probe users, one per A/B arm (the active
    version can be one arm's, never both), answered with the arm's version, or with both (interleaving)."""
    import time

    from ranker.experiments import arm_of, start_experiment

    experiment = start_experiment(settings, args.start, args.control, args.treatment, mode=args.mode)
    pair = f"{experiment.control}+{experiment.treatment}"
    probes = {}
    for s in shoppers:
        probes.setdefault(arm_of(experiment.name, s.user_id), s.user_id)
    wait = args.wait_s if args.wait_s is not None else 2 * settings.experiments.check_s + 5
    deadline = time.monotonic() + wait
    while True:
        served = []
        for arm, user in probes.items():
            version = client.get(f"/v1/recommend/{user}", params={"k": 1}).raise_for_status().json()["model_version"]
            served.append(version == pair if args.mode == "interleave" else version == experiment.version_of(arm))
        if all(served):
            return
        if time.monotonic() > deadline:
            from ranker.experiments import stop_experiment

            stop_experiment(settings, experiment.name)
            raise ConfigError(f"the service at {args.url} did not serve experiment {experiment.name!r} within "
                              f"{wait:g} s (stopped it): does it use this store (RECSEARCH_STORE_URL), and is its "
                              "RECSEARCH_EXPERIMENTS_CHECK_S shorter than --wait-s?")  # fmt: skip
        time.sleep(0.25)


def _report(settings, name: str, sessions: int):
    """The experiment's report once the service has written the sessions' answers (it writes them in batches)."""
    import time

    from ranker.experiments import experiment_report

    deadline = time.monotonic() + 3 * settings.ubi.flush_interval_s + 10
    report = experiment_report(settings, name)
    while report.impressions < sessions and time.monotonic() < deadline:
        time.sleep(0.5)
        report = experiment_report(settings, name)
    return report


if __name__ == "__main__":
    main()
