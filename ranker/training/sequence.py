"""Training the sequence model (:mod:`ranker.model.sequence`) on the users' ordered events.

Each training window is up to ``max_length`` consecutive events of one user; every position predicts the event
after it with a softmax over the whole catalog (cross-entropy, no sampling: a catalog of a few thousand items costs
less than the sampling would save; the logQ correction is therefore not needed). A user's events are cut into
windows that tile their history, from a random offset each epoch, so long histories train every part of themselves.
Validation ranks the whole catalog for the examples of the newest ``validation_fraction`` of the time span (the same
time split as the attention ranker's) and keeps the weights of the best epoch by NDCG@10; training stops after
``patience`` epochs without improvement, at ``epochs``, or when ``max_minutes`` are spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.device import pick_device
from core.settings import SequenceSettings
from ranker.model import ItemVectors, SequenceConfig, SequenceModel, gap_buckets
from ranker.training.examples import NextItemData

HOURS_PER_DAY = 24.0
#: Scores of validation users x catalog items held at once (float32: 64 MB).
_SCORE_CELLS = 16_000_000


@dataclass
class SequenceFit:
    """A trained sequence model and what its checkpoint records."""

    model: SequenceModel
    metrics: dict[str, float]
    epochs: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def event_gaps(data: NextItemData, buckets: int) -> np.ndarray:
    """(E,) the gap bucket of every event: hours since the same user's event before it (0 for a user's first)."""
    hours = np.diff(data.days, prepend=data.days[:1]) * HOURS_PER_DAY
    hours[data.event_user == np.arange(len(data.days))] = 0.0  # a user's first event
    return gap_buckets(hours, buckets)


def windows(starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """(W, length) event positions of histories ``[start, end)`` cut to their newest ``length`` events, left-padded
    with -1."""
    offsets = np.arange(length)[None, :] - length
    pos = ends[:, None] + offsets
    return np.where(pos >= starts[:, None], pos, -1)


def history_rows(data: NextItemData, pos: np.ndarray, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item-table rows + 1 (0: padding) and gap buckets (0: padding) at event positions ``pos`` (-1: padding)."""
    real = pos >= 0
    safe = np.where(real, pos, 0)
    return np.where(real, data.item_rows[safe] + 1, 0), np.where(real, gaps[safe], 0)


def user_starts(data: NextItemData) -> np.ndarray:
    """(U,) each user's first event position (the user's key in ``data.event_user`` and ``data.user_start``)."""
    return np.flatnonzero(data.event_user == np.arange(len(data.days)))


def user_folds(data: NextItemData, folds: int, seed: int) -> np.ndarray:
    """(U,) the fold in ``[0, folds)`` of each user of :func:`user_starts`, at random but balanced and fixed by
    seed."""
    users = len(user_starts(data))
    out = np.empty(users, dtype=np.int64)
    out[np.random.default_rng(seed).permutation(users)] = np.arange(users) % folds
    return out


def training_windows(
    data: NextItemData, length: int, rng: np.random.Generator, users: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of this epoch's windows over the training period: one window of up to ``length`` events
    (inputs and, one step ahead, their targets) per user with two or more training events, ending at a random event,
    so every user counts alike and a long history is visited part by part over the epochs. ``users``: only these
    users (first event positions; None: all)."""
    starts = user_starts(data)
    train = (data.days < data.cutoff_day).astype(np.int64)
    ends = starts + np.add.reduceat(train, starts)  # a user's training events are the oldest of theirs
    keep = ends - starts >= 2
    if users is not None:
        keep &= np.isin(starts, users)
    starts, ends = starts[keep], ends[keep]
    lowest = np.minimum(starts + length, ends)  # a full window where the history allows one
    return starts, lowest + (rng.random(len(starts)) * (ends - lowest + 1)).astype(np.int64)


def fit_sequence(
    data: NextItemData,
    items: ItemVectors,
    settings: SequenceSettings,
    *,
    seed: int = 0,
    device: str = "auto",
    threads: int = 1,
    log: Callable[[str], None] | None = None,
    users: np.ndarray | None = None,
    fixed_epochs: int | None = None,
) -> SequenceFit:
    """Train a sequence model on the events of ``data`` (:func:`ranker.training.examples.build_examples`) over the
    item table ``items``. ``users`` (first event positions): train on these users' events only; ``fixed_epochs``:
    train exactly that many epochs with no validation (a cross-fitting fold, whose epochs the served model chose)."""
    import torch

    started = time.perf_counter()
    if threads > 0:
        torch.set_num_threads(threads)  # more threads than free cores slow small matrices down (5x seen on 2 cores)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = pick_device(device)
    config = SequenceConfig(
        items=len(items), text_dim=items.dim if settings.use_text else 0, dim=settings.dim, layers=settings.layers,
        heads=settings.heads, max_length=settings.max_length, dropout=settings.dropout,
    )  # fmt: skip
    model = SequenceModel(config).to(device)
    text = torch.from_numpy(items.vectors).to(device)
    gaps = event_gaps(data, config.gap_buckets)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    validation = (
        None if fixed_epochs else _Validation(data, gaps, config.max_length, settings.validation_examples, seed)
    )
    sampler = (
        _Sampler(data, len(items), settings.sampled_negatives, rng)
        if len(items) > settings.full_softmax_items
        else None
    )
    best: tuple[float, dict, dict] | None = None
    epochs: list[dict[str, float]] = []
    bad = 0
    for epoch in range(1, (fixed_epochs or settings.epochs) + 1):
        model.train()
        starts, ends = training_windows(data, config.max_length + 1, rng, users)
        order = rng.permutation(len(starts))
        full_steps = -(-len(order) // settings.batch_size)
        if settings.epoch_steps:  # a fresh random sample of the windows each epoch
            order = order[: settings.epoch_steps * settings.batch_size]
        losses = []
        epoch_started = time.perf_counter()
        for at in range(0, len(order), settings.batch_size):
            part = order[at : at + settings.batch_size]
            pos = windows(starts[part], ends[part], config.max_length + 1)
            rows, gap = history_rows(data, pos, gaps)
            if sampler is None:
                loss = _full_softmax_loss(model, text, rows, gap, device)
            else:
                loss = sampler.loss(model, text, rows, gap, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        seconds = round(time.perf_counter() - epoch_started, 3)  # the training steps only, validation apart
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else 0.0, "seconds": seconds,
               "steps": len(losses), "full_steps": full_steps}  # fmt: skip
        if validation is None:  # a fold: its epochs are fixed, its last is kept
            best = (float(epoch), model.state_dict(), row)
        else:
            with torch.inference_mode():
                row |= validation.evaluate(model, text, device)
            if log:
                log(f"sequence epoch {epoch}: loss {row['train_loss']:.4f}, val ndcg@10 {row['ndcg@10']:.4f}")
            if best is None or row["ndcg@10"] > best[0]:
                best, bad = (row["ndcg@10"], {k: v.detach().clone() for k, v in model.state_dict().items()}, row), 0
            else:
                bad += 1
        epochs.append(row)
        out_of_time = time.perf_counter() - started > 60.0 * settings.max_minutes
        if bad >= settings.patience or out_of_time:
            break
    assert best is not None
    model.load_state_dict(best[1])
    how_it_ran = ("train_loss", "seconds", "steps", "full_steps")  # not how it scored
    metrics = {f"sequence_val_{k}": v for k, v in best[2].items() if k not in how_it_ran}
    return SequenceFit(model.cpu().eval(), metrics, epochs, time.perf_counter() - started)


def _full_softmax_loss(model: SequenceModel, text, rows: np.ndarray, gap: np.ndarray, device: str):
    """Cross-entropy of every next event against the whole catalog ((B, L, N + 1) logits: small catalogs)."""
    import torch

    inputs, targets = torch.from_numpy(rows[:, :-1]).to(device), torch.from_numpy(rows[:, 1:]).to(device)
    table = model.item_table(text)
    hidden = model.encode(table, inputs, torch.from_numpy(gap[:, :-1]).to(device))
    logits = hidden @ table.T  # (B, L, N + 1)
    logits[..., 0] = float("-inf")  # padding is never an answer
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)


class _Sampler:
    """The sampled softmax of a large catalog: each position's next item against K negatives shared by the step,
    drawn from half uniform, half the training events' item frequencies; every logit minus log(K q(item)) (the
    logQ correction, so the sampled loss estimates the full softmax's), a negative equal to the position's target
    left out. Only the step's items (its windows' and the negatives) are projected: a step costs
    B x L x K, not B x L x N, and no (N, D) table is made per step."""

    def __init__(self, data: NextItemData, n_items: int, k: int, rng: np.random.Generator):
        counts = np.bincount(data.item_rows[data.days < data.cutoff_day], minlength=n_items).astype(np.float64)
        q = 0.5 / n_items + 0.5 * counts / max(counts.sum(), 1.0)
        self.cdf = np.cumsum(q / q.sum())
        self.log_kq = np.log(k * np.r_[1.0, q / q.sum()]).astype(np.float32)  # by table row + 1 (0: padding)
        self.k, self.rng = k, rng

    def loss(self, model: SequenceModel, text, rows: np.ndarray, gap: np.ndarray, device: str):
        import torch

        neg = np.minimum(np.searchsorted(self.cdf, self.rng.random(self.k), side="right"), len(self.cdf) - 1) + 1
        used = np.unique(np.concatenate([[0], rows.ravel(), neg]))  # table rows + 1 of this step, 0 first
        local = torch.from_numpy(np.searchsorted(used, rows)).to(device)
        items = torch.from_numpy(used[1:]).to(device)
        table = model.item_table(text[items - 1] if text is not None else None, ids=items)  # (U + 1, D), 0: padding
        inputs, targets = local[:, :-1], local[:, 1:]
        hidden = model.encode(table, inputs, torch.from_numpy(gap[:, :-1]).to(device))  # (B, L, D)
        negs = torch.from_numpy(np.searchsorted(used, neg)).to(device)
        log_kq = torch.from_numpy(self.log_kq).to(device)
        used_t = torch.from_numpy(used).to(device)
        positive = (hidden * table[targets]).sum(-1) - log_kq[used_t[targets]]  # (B, L)
        negative = hidden @ table[negs].T - log_kq[neg_rows := torch.from_numpy(neg).to(device)]  # (B, L, K)
        negative = negative.masked_fill(neg_rows[None, None, :] == used_t[targets][..., None], float("-inf"))
        logits = torch.cat([positive[..., None], negative], dim=-1)
        real = targets != 0
        zero = torch.zeros(int(real.sum()), dtype=torch.long, device=device)
        return torch.nn.functional.cross_entropy(logits[real], zero)


def example_scores(model: SequenceModel, data: NextItemData, items: ItemVectors, batch: int = 512):
    """The sequence model's :class:`~ranker.training.examples.SequenceScores` of every example of ``data``: the user
    vector from the history before each example's basket (as serving computes it from the profile then), and the
    item vectors of the table."""
    from ranker.training.examples import SequenceScores

    examples = np.arange(len(data.target))
    users, table = _user_vectors(model, data, items, examples, batch)
    return SequenceScores(users, table[None], np.zeros(len(examples), dtype=np.int64))


def cross_fitted_scores(
    fitted: SequenceFit,
    data: NextItemData,
    items: ItemVectors,
    settings: SequenceSettings,
    *,
    seed: int = 0,
    device: str = "auto",
    threads: int = 1,
    log: Callable[[str], None] | None = None,
):
    """:class:`~ranker.training.examples.SequenceScores` where each training example is scored by a model trained
    without its user (``settings.cross_fit_folds`` folds of users, each model trained on the others' events for the
    served model's best number of epochs), and validation examples by the served model, which never saw them."""
    scores = example_scores(fitted.model, data, items)
    folds = settings.cross_fit_folds
    if folds < 2:
        return scores
    starts = user_starts(data)
    fold_of = user_folds(data, folds, seed)
    example_fold = fold_of[np.searchsorted(starts, data.user_start)]
    training = data.target_day < data.cutoff_day
    best_epoch = int(fitted.metrics.get("sequence_val_epoch", len(fitted.epochs)) or 1)
    tables = [scores.items[0]]
    for k in range(folds):
        others = starts[fold_of != k]
        fold = fit_sequence(data, items, settings, seed=seed + 1 + k, device=device, threads=threads,
                            users=others, fixed_epochs=best_epoch)  # fmt: skip
        ex = np.flatnonzero(training & (example_fold == k))
        users, table = _user_vectors(fold.model, data, items, ex)
        scores.users[ex] = users
        scores.table_of[ex] = len(tables)
        tables.append(table)
        if log:
            log(f"sequence fold {k + 1}/{folds}: {best_epoch} epochs on {len(others)} users, {len(ex)} examples scored")
    scores.items = np.stack(tables)
    return scores


def _user_vectors(
    model: SequenceModel, data: NextItemData, items: ItemVectors, examples: np.ndarray, batch: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """(X, D) the user vectors of ``examples`` (from the history before each one's basket) and (N, D) the item
    vectors of the table."""
    import torch

    gaps = event_gaps(data, model.config.gap_buckets)
    text = torch.from_numpy(items.vectors) if model.config.text_dim else None
    users = np.zeros((len(examples), model.config.dim), dtype=np.float32)
    with torch.inference_mode():
        table = model.item_table(text)
        for at in range(0, len(examples), batch):
            ex = examples[at : at + batch]
            rows, gap = history_rows(
                data, windows(data.user_start[ex], data.hist_end[ex], model.config.max_length), gaps
            )
            users[at : at + len(ex)] = model.user_vectors(table, torch.from_numpy(rows), torch.from_numpy(gap)).numpy()
    return users, table[1:].numpy()


class _Validation:
    """The validation examples' histories, fixed, and the full-catalog ranking metrics of a model on them."""

    def __init__(self, data: NextItemData, gaps: np.ndarray, length: int, max_examples: int, seed: int):
        ex = data.validation_index
        if len(ex) > max_examples:
            ex = np.sort(np.random.default_rng(seed + 1).choice(ex, size=max_examples, replace=False))
        pos = windows(data.user_start[ex], data.hist_end[ex], length)
        self.rows, self.gaps = history_rows(data, pos, gaps)
        self.targets = data.target[ex] + 1

    def evaluate(self, model: SequenceModel, text, device: str) -> dict[str, float]:
        import torch

        if not len(self.targets):
            return {"ndcg@10": 0.0, "hr@10": 0.0}
        table = model.item_table(text)
        ranks = []
        step = max(1, min(512, _SCORE_CELLS // len(table)))  # (step, N + 1) scores at a time: bounded at any N
        for at in range(0, len(self.targets), step):
            rows = torch.from_numpy(self.rows[at : at + step]).to(device)
            gap = torch.from_numpy(self.gaps[at : at + step]).to(device)
            scores = model.user_vectors(table, rows, gap) @ table.T
            scores[:, 0] = float("-inf")
            target = torch.from_numpy(self.targets[at : at + step]).to(device)
            mine = scores.gather(1, target[:, None])
            ranks.append((scores > mine).sum(1).cpu().numpy())
        rank = np.concatenate(ranks)
        hit = rank < 10
        return {"ndcg@10": float(np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0).mean()), "hr@10": float(hit.mean())}
