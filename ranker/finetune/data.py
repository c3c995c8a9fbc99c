"""Training pairs and held-out users for fine-tuning the embedding model on behaviour.

The k-NN baseline ranks the catalog by cosine with the mean of a customer's history vectors, so the item space is
good when the items one customer buys within a short time are close together. A positive pair is therefore
(an item the customer bought in the ``window_days`` up to a basket, an item of that basket): the same basket or
history -> next item. Pairs are drawn event by event, not from global co-occurrence counts:

* each target event is drawn with weight ``popularity(item) ** -damping / sqrt(events of its customer)``, so
  best sellers and the few wholesale customers with thousands of lines do not crowd out the rest;
* its anchor is one of the customer's other items in the window, drawn with weight ``popularity ** -damping``.

Only events before ``until`` are used. A set of held-out customers (:func:`holdout_users`) gives no training pair
at all; they are what the held-out check (:mod:`ranker.finetune.loop`) measures on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class PairSet:
    """Item-id pairs (anchor, positive), how many users gave them and how many target events were drawn."""

    pairs: list[tuple[str, str]]
    users: int
    events: int
    draws: int


def _purchases(events: pd.DataFrame, items: list[str] | set[str], until: pd.Timestamp | None) -> pd.DataFrame:
    """Distinct (user, ts, item) rows of known items before ``until``, sorted by user and time."""
    known = events[events["item_id"].isin(set(items))]
    if until is not None:
        known = known[known["ts"] < until]
    known = known.drop_duplicates(["user_id", "ts", "item_id"])
    return known.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)[["user_id", "ts", "item_id"]]


def behaviour_pairs(
    events: pd.DataFrame,
    items: list[str],
    *,
    until: pd.Timestamp | None = None,
    exclude_users: set[str] | frozenset[str] = frozenset(),
    window_days: float = 30.0,
    max_pairs: int = 100000,
    damping: float = 0.5,
    seed: int = 13,
) -> PairSet:
    """Up to ``max_pairs`` distinct unordered pairs of ``items`` bought by one customer at most ``window_days``
    apart (same basket included), before ``until``, from customers not in ``exclude_users``."""
    known = _purchases(events, items, until)
    if exclude_users:
        known = known[~known["user_id"].isin(exclude_users)].reset_index(drop=True)
    if known.empty:
        return PairSet([], 0, 0, 0)
    item_ids, item_codes = np.unique(known["item_id"].to_numpy(), return_inverse=True)
    popularity = np.bincount(item_codes).astype(np.float64)
    user_codes = pd.factorize(known["user_id"])[0]
    per_user = np.bincount(user_codes).astype(np.float64)
    ts = known["ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    # Rows of one user are contiguous and sorted by time: [first[u], last[u]) bounds each user's rows.
    first = np.searchsorted(user_codes, np.arange(len(per_user)), side="left")
    last = np.searchsorted(user_codes, np.arange(len(per_user)), side="right")
    anchor_weight = popularity[item_codes] ** -damping
    target_weight = anchor_weight / np.sqrt(per_user[user_codes])
    window_s = int(window_days * 86400)
    rng = np.random.default_rng(seed)
    draws = min(4 * max_pairs, 50 * len(known))
    targets = rng.choice(len(known), size=draws, p=target_weight / target_weight.sum())
    seen: set[tuple[int, int]] = set()
    users: set[int] = set()
    pairs: list[tuple[str, str]] = []
    for row in targets:
        u = user_codes[row]
        lo = first[u] + np.searchsorted(ts[first[u] : last[u]], ts[row] - window_s, side="left")
        hi = first[u] + np.searchsorted(ts[first[u] : last[u]], ts[row], side="right")
        window = np.arange(lo, hi)
        window = window[item_codes[window] != item_codes[row]]
        if not len(window):
            continue
        w = anchor_weight[window]
        anchor = window[rng.choice(len(window), p=w / w.sum())] if len(window) > 1 else window[0]
        a, b = int(item_codes[anchor]), int(item_codes[row])
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        users.add(int(u))
        pairs.append((item_ids[a], item_ids[b]) if rng.random() < 0.5 else (item_ids[b], item_ids[a]))
        if len(pairs) >= max_pairs:
            break
    return PairSet([(str(a), str(b)) for a, b in pairs], len(users), len(known), draws)


@dataclass
class HoldoutCase:
    """One held-out customer: distinct items bought before the check window, and those bought inside it."""

    user_id: str
    history: list[str]
    targets: list[str]


def holdout_users(
    events: pd.DataFrame,
    items: list[str],
    *,
    until: pd.Timestamp | None,
    horizon_days: float = 30.0,
    n_users: int = 300,
    max_share: float = 0.1,
    seed: int = 13,
) -> list[HoldoutCase]:
    """Customers who bought known items both before and inside ``[until - horizon_days, until)`` (the time split
    of the evaluation, moved back before the cutoff), at most ``n_users`` and ``max_share`` of the customers."""
    known = _purchases(events, items, until)
    if known.empty:
        return []
    end = until if until is not None else known["ts"].max() + pd.Timedelta(seconds=1)
    start = end - pd.Timedelta(days=horizon_days)
    before, inside = known[known["ts"] < start], known[known["ts"] >= start]
    history = before.groupby("user_id", sort=True)["item_id"].unique()
    targets = inside.groupby("user_id", sort=True)["item_id"].unique()
    users = sorted(set(history.index) & set(targets.index))
    n = min(n_users, int(max_share * known["user_id"].nunique()), len(users))
    if n < 1:
        return []
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(users), size=n, replace=False))
    return [
        HoldoutCase(str(users[i]), [str(x) for x in history[users[i]]], [str(x) for x in targets[users[i]]])
        for i in chosen
    ]


def batches_without_repeats(pairs: list[tuple[str, str]], batch_size: int, seed: int = 13) -> Iterator[list[int]]:
    """Pair indices in shuffled batches (one pass over the pairs) in which no item appears twice: with in-batch
    negatives, a repeated item would be its own negative. A pair that clashes waits for the next batch."""
    rng = np.random.default_rng(seed)
    order = deque(int(i) for i in rng.permutation(len(pairs)))
    while order:
        batch: list[int] = []
        used: set[str] = set()
        waiting: list[int] = []
        while order and len(batch) < batch_size and len(waiting) < 4 * batch_size:
            i = order.popleft()
            a, b = pairs[i]
            if a in used or b in used:
                waiting.append(i)
                continue
            batch.append(i)
            used.update((a, b))
        order.extendleft(reversed(waiting))
        if len(batch) < 2:
            return  # what is left cannot form a batch with a negative
        yield batch


@dataclass
class HistoryExamples:
    """Training examples for the history-mean objective, as row indices into the ``items`` list: example ``k``
    has history ``history[history_start[k]:history_start[k+1]]`` and targets likewise."""

    history: np.ndarray
    history_start: np.ndarray
    targets: np.ndarray
    target_start: np.ndarray
    users: int

    def __len__(self) -> int:
        return len(self.history_start) - 1


def history_examples(
    events: pd.DataFrame,
    items: list[str],
    *,
    until: pd.Timestamp | None = None,
    exclude_users: set[str] | frozenset[str] = frozenset(),
    horizon_days: float = 30.0,
    max_examples: int = 20000,
    seed: int = 13,
) -> HistoryExamples:
    """The evaluation's time split at many cut points before ``until``: a customer's basket time ``t`` (not their
    first) gives the distinct items bought before ``t`` as the history and those bought in ``[t, t + horizon)``
    (and before ``until``) as the targets. Cut points are drawn with weight ``1 / sqrt(cut points of the
    customer)``, so the few customers with hundreds of baskets do not dominate."""
    known = _purchases(events, items, until)
    if exclude_users:
        known = known[~known["user_id"].isin(exclude_users)].reset_index(drop=True)
    position = {item: i for i, item in enumerate(items)}
    empty = HistoryExamples(np.zeros(0, int), np.zeros(1, int), np.zeros(0, int), np.zeros(1, int), 0)
    if known.empty:
        return empty
    codes = known["item_id"].map(position).to_numpy()
    ts = known["ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    user_codes = pd.factorize(known["user_id"])[0]
    n_users = int(user_codes.max()) + 1
    first = np.searchsorted(user_codes, np.arange(n_users), side="left")
    last = np.searchsorted(user_codes, np.arange(n_users), side="right")
    end = np.int64(pd.Timestamp(until).value // 10**9) if until is not None else ts.max() + 1
    # Candidate cuts: the first row of every basket that is not the customer's first basket.
    new_basket = np.ones(len(known), dtype=bool)
    new_basket[1:] = (user_codes[1:] != user_codes[:-1]) | (ts[1:] != ts[:-1])
    cuts = np.flatnonzero(new_basket & (np.arange(len(known)) != first[user_codes]))
    if not len(cuts):
        return empty
    per_user = np.bincount(user_codes[cuts], minlength=n_users).astype(np.float64)
    weight = 1.0 / np.sqrt(per_user[user_codes[cuts]])
    rng = np.random.default_rng(seed)
    chosen = rng.choice(cuts, size=min(max_examples, len(cuts)), replace=False, p=weight / weight.sum())
    horizon_s = int(horizon_days * 86400)
    history, targets, h_start, t_start = [], [], [0], [0]
    for row in chosen:
        u = user_codes[row]
        hist = np.unique(codes[first[u] : row])
        stop = first[u] + np.searchsorted(ts[first[u] : last[u]], min(ts[row] + horizon_s, end), side="left")
        tgt = np.unique(codes[row:stop])
        history.append(hist)
        targets.append(tgt)
        h_start.append(h_start[-1] + len(hist))
        t_start.append(t_start[-1] + len(tgt))
    return HistoryExamples(
        np.concatenate(history),
        np.asarray(h_start),
        np.concatenate(targets),
        np.asarray(t_start),
        len(set(user_codes[chosen].tolist())),
    )
