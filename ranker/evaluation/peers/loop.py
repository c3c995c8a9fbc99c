"""The one training loop of the peers: Adam over shuffled batches, an epoch budget and a wall-clock budget,
early stopping on a validation score (NDCG@10), the best epoch's weights kept. The network brings its loss
(:class:`.nets.PeerNet`); the caller brings the batches of an epoch and the validation score.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from core.errors import InputError
from core.settings import EvalSettings
from ranker.evaluation.peers.nets import PeerNet


@dataclass(frozen=True)
class PeerOptions:
    """The budget and sizes every peer gets (``RECSEARCH_EVAL_PEER_*``); the same for each, so they compare."""

    epochs: int = 30
    minutes: float = 5.0
    patience: int = 3
    dim: int = 64
    max_length: int = 50
    learning_rate: float = 1e-3
    validation_fraction: float = 0.05
    device: str = "auto"
    threads: int = 1
    seed: int = 13

    @classmethod
    def from_settings(cls, e: EvalSettings) -> PeerOptions:
        """The options of ``RECSEARCH_EVAL_*``; a value out of range is an :class:`InputError` naming it."""
        for name, value, low in (("PEER_EPOCHS", e.peer_epochs, 1), ("PEER_PATIENCE", e.peer_patience, 1),
                                 ("PEER_DIM", e.peer_dim, 1), ("PEER_MAX_LENGTH", e.peer_max_length, 1),
                                 ("PEER_THREADS", e.peer_threads, 0)):  # fmt: skip
            if value < low:
                raise InputError(f"RECSEARCH_EVAL_{name} must be at least {low} (got {value})", field=name.lower())
        for name, value in (("PEER_MINUTES", e.peer_minutes), ("PEER_LEARNING_RATE", e.peer_learning_rate)):
            if not value > 0:
                raise InputError(f"RECSEARCH_EVAL_{name} must be above 0 (got {value})", field=name.lower())
        return cls(e.peer_epochs, e.peer_minutes, e.peer_patience, e.peer_dim, e.peer_max_length,
                   e.peer_learning_rate, e.peer_validation_fraction, e.peer_device, e.peer_threads, e.seed)  # fmt: skip


@dataclass
class LoopResult:
    """How training went: epochs run, the best one (its weights are the ones kept) and why it stopped."""

    epochs: int = 0
    best_epoch: int = 0
    best_score: float | None = None
    #: ``epochs`` (the limit), ``patience`` (no better validation score), ``minutes`` (the time budget).
    stopped_by: str = "epochs"
    history: list[dict] = field(default_factory=list)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` CPU threads (0: as set), restoring the setting after."""
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_net(
    net: PeerNet,
    epoch_batches: Callable[[], Iterable[tuple[np.ndarray, ...]]],
    validate: Callable[[], float] | None,
    options: PeerOptions,
    device: str,
    log: Callable[[str], None] | None = None,
) -> LoopResult:
    """Train ``net`` (already on ``device``) for at most ``options.epochs`` epochs and ``options.minutes``;
    ``validate`` (None: no early stopping, the last epoch is kept) scores the network after each epoch."""
    deadline = time.perf_counter() + 60.0 * options.minutes
    optimizer = torch.optim.Adam(net.parameters(), lr=options.learning_rate)
    out, best_state, waited = LoopResult(), None, 0
    for epoch in range(1, options.epochs + 1):
        net.train()
        losses, out_of_time = [], False
        for batch in epoch_batches():
            loss = net.loss(*(torch.from_numpy(a).to(device) for a in batch))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if time.perf_counter() > deadline:
                out_of_time = True
                break
        net.eval()
        with torch.inference_mode():
            score = validate() if validate else None
        out.epochs = epoch
        out.history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else None, "ndcg@10": score})
        if log:
            log(f"epoch {epoch}: loss {out.history[-1]['loss'] or 0:.4f}" + (f", val ndcg@10 {score:.4f}"
                                                                             if score is not None else ""))  # fmt: skip
        if score is None or out.best_score is None or score > out.best_score:
            out.best_epoch, out.best_score, waited = epoch, score, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited >= options.patience:
                out.stopped_by = "patience"
                break
        if out_of_time or time.perf_counter() > deadline:
            out.stopped_by = "minutes"
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return out
