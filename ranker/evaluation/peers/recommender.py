"""A peer network as an evaluated ranker (:class:`ranker.evaluation.baselines.Recommender`): trained in
:meth:`PeerRecommender.fit` on a split's training events, ranking the whole catalog for each test case.

Early stopping reads NDCG@10 on the split's validation cases (already-bought items left out of the ranking,
cases whose target was bought before left out, as the headline protocol measures); a split without them
(time, leave-last-out) has the peer hold out the newest ``validation_fraction`` of the training events' time span
instead, as a time split of its own, and train on the rest. Catalog items without a training event get the
lowest scores: their ID embeddings were never trained.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from core.device import pick_device
from ranker.evaluation.baselines import top_items
from ranker.evaluation.catalog import IndexSnapshot
from ranker.evaluation.peers.bpr import BPR, BprConfig, bpr_batches
from ranker.evaluation.peers.data import PeerData, history_rows, shuffled_batches, training_windows
from ranker.evaluation.peers.gru4rec import GRU4Rec, Gru4RecConfig
from ranker.evaluation.peers.loop import PeerOptions, torch_threads, train_net
from ranker.evaluation.peers.nets import PeerNet
from ranker.evaluation.peers.sasrec import SASRec, SasRecConfig
from ranker.evaluation.splits import TestCase, sample_cases, time_split
from ranker.metrics import case_metrics

#: The peers' names (``RECSEARCH_EVAL_PEERS``).
PEERS = ("bpr", "gru4rec", "sasrec")
#: Validation cases scored per epoch at most (drawn with the seed): enough for a stable NDCG@10, cheap to rank.
VALIDATION_CASES = 2000
#: Cases ranked per forward pass.
SCORE_BATCH = 256


def holdout_slice(train: pd.DataFrame, fraction: float, catalog: IndexSnapshot) -> tuple[pd.DataFrame, list]:
    """The events before the newest ``fraction`` of ``train``'s time span, and the cases of that slice (each
    user's history before it, their items within it as targets)."""
    start, end = train["ts"].min(), train["ts"].max()
    if pd.isna(start) or start == end:
        return train, []
    cutoff = end - (end - start) * fraction
    split = time_split(train, cutoff, (end - cutoff) / pd.Timedelta(days=1) + 1.0, catalog.position)
    return (split.train, split.cases) if split.cases else (train, [])


def build_net(peer: str, data: PeerData, options: PeerOptions) -> tuple[PeerNet, int]:
    """The untrained network of ``peer`` sized for ``data`` and ``options``, and its batch size."""
    if peer == "bpr":
        bpr = BprConfig(max(data.n_users, 1), data.n_items, options.dim)
        return BPR(bpr), bpr.batch_size
    if peer == "gru4rec":
        gru = Gru4RecConfig(data.n_items, options.dim)
        return GRU4Rec(gru), gru.batch_size
    sas = SasRecConfig(data.n_items, options.dim, options.max_length)
    return SASRec(sas), sas.batch_size


class PeerRecommender:
    """One of :data:`PEERS`, trained per split with :class:`PeerOptions`."""

    kind = "baseline"
    #: The published recommenders a model row is also compared with, one by one (``vs_peers`` in the report).
    is_peer = True

    def __init__(self, catalog: IndexSnapshot, peer: str, options: PeerOptions, *, name: str | None = None,
                 log: Callable[[str], None] | None = None):  # fmt: skip
        if peer not in PEERS:
            raise ValueError(f"unknown peer '{peer}' (use one of {', '.join(PEERS)})")
        self.catalog, self.peer, self.options, self.name, self.log = catalog, peer, options, name or peer, log
        self.device = pick_device(options.device)
        self.net: PeerNet | None = None
        self.data: PeerData | None = None
        self.fit_info: dict = {}

    def fit(self, train: pd.DataFrame, validation: Sequence[TestCase] | None = None) -> None:
        import torch

        started = time.perf_counter()
        source = "split"
        if validation is None:
            train, validation = holdout_slice(train, self.options.validation_fraction, self.catalog)
            source = "time slice"
        checked = [c for c in (v.without_history_targets() for v in validation) if c]
        checked = sample_cases(checked, VALIDATION_CASES, self.options.seed)
        data = self.data = PeerData.from_events(train, self.catalog)
        torch.manual_seed(self.options.seed)
        rng = np.random.default_rng(self.options.seed)
        net, batch_size = build_net(self.peer, data, self.options)
        self.net = net.to(self.device)
        if self.peer == "bpr":
            batches = lambda: bpr_batches(data, batch_size, rng)  # noqa: E731
        else:
            windows = training_windows(data.sequences(), self.options.max_length)
            batches = lambda: shuffled_batches(windows, batch_size, rng)  # noqa: E731

        def validate() -> float:
            ranked = self._recommend(checked, 10, exclude_seen=True)
            pairs = zip(ranked, checked, strict=True)
            return float(np.mean([case_metrics(r, c.targets, (10,))["ndcg@10"] for r, c in pairs]))

        log = (lambda message: self.log(f"{self.name}: {message}")) if self.log else None
        with torch_threads(self.options.threads):
            result = train_net(self.net, batches, validate if checked else None, self.options, self.device, log)
        self.fit_info = {
            "device": self.device, "epochs": result.epochs, "best_epoch": result.best_epoch,
            "stopped_by": result.stopped_by, "validation": source if checked else "none",
            "validation_cases": len(checked), "validation_ndcg@10": result.best_score,
            "train_events": len(data.rows), "train_seconds": round(time.perf_counter() - started, 1),
            "per_epoch": result.history,
        }  # fmt: skip

    def _inputs(self, cases: Sequence[TestCase], data: PeerData) -> np.ndarray:
        rows = history_rows(cases, self.catalog, data.trained, self.options.max_length)
        if self.peer != "bpr":
            return rows
        users = np.array([data.user_index.get(c.user_id, -1) for c in cases], dtype=np.int64)
        return np.concatenate([users[:, None], rows], axis=1)

    def scores(self, cases: Sequence[TestCase]) -> np.ndarray:
        """(cases, catalog size) each case's score of every catalog item; untrained items below all others."""
        import torch

        if self.net is None or self.data is None:
            raise RuntimeError(f"{self.name} is not fitted")
        out = np.zeros((len(cases), len(self.catalog)), dtype=np.float64)
        trained = self.data.trained
        with torch_threads(self.options.threads), torch.inference_mode():
            for start in range(0, len(cases), SCORE_BATCH):
                inputs = torch.from_numpy(self._inputs(cases[start : start + SCORE_BATCH], self.data)).to(self.device)
                out[start : start + SCORE_BATCH] = self.net.scores(inputs).double().cpu().numpy()
        if trained.any() and not trained.all():
            out[:, ~trained] = out[:, trained].min(axis=1, keepdims=True) - 1.0
        return out

    def _recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        rows = self.scores(cases)
        return [top_items(row, self.catalog, k, c.seen if exclude_seen else frozenset())
                for row, c in zip(rows, cases, strict=True)]  # fmt: skip

    def recommend(self, cases: Sequence[TestCase], k: int, exclude_seen: bool) -> list[list[str]]:
        return self._recommend(cases, k, exclude_seen)

    def score(self, case: TestCase, items: Sequence[str]) -> np.ndarray:
        row = self.scores([case])[0]
        return np.array([row[self.catalog.position[i]] for i in items])


def peer_rankers(catalog: IndexSnapshot, names: Sequence[str], options: PeerOptions,
                 log: Callable[[str], None] | None = None) -> list[PeerRecommender]:  # fmt: skip
    """One :class:`PeerRecommender` per name, in the order given."""
    return [PeerRecommender(catalog, name, options, log=log) for name in names]
