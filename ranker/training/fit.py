"""Fitting the attention ranker on next-item examples, and a full training run that registers a version.

Each step scores, per example, the true next item against hard negatives (the user's own past items and what is
bought with them: what the reranker meets in production, :mod:`ranker.training.negatives`), uniformly sampled
negatives and
the other examples' next items (in-batch negatives) with a sampled softmax. AdamW with weight decay and dropout
regularise; validation NDCG@10 on the newest events (time split) picks the best epoch and stops training after
``patience`` epochs without improvement. The same seed and data give the same model. Uses CUDA when there is one
(``device=auto``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import pandas as pd

from core.device import pick_device
from core.errors import InputError
from core.progress import ProgressFn
from ranker.model import (
    FEATURE_NAMES,
    AttentionRanker,
    Checkpoint,
    ItemStats,
    ItemVectors,
    RankerConfig,
    SequenceModel,
    SequencePart,
)
from ranker.training.examples import Batch, NextItemData, SequenceScores, build_examples, make_batch
from ranker.training.negatives import hard_draw_rates, neighbour_steps, sample_hard, sample_negatives
from ranker.training.options import TrainOptions
from ranker.training.sequence import SequenceFit, cross_fitted_scores, fit_sequence
from ranker.training.validation import Validator


@dataclass
class FitResult:
    """A fitted model with what the checkpoint and the registry record."""

    model: AttentionRanker
    item_stats: ItemStats
    metrics: dict[str, float]
    epochs: list[dict[str, float]] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    #: The sequence model whose score the ranker reads (None when it was trained without one).
    sequence: SequenceModel | None = None

    def checkpoint(self, version: str, items: ItemVectors) -> Checkpoint:
        """The checkpoint of this fit (the sequence model's vocabulary is the item table it was trained on)."""
        part = SequencePart(self.sequence, list(items.ids)) if self.sequence is not None else None
        return Checkpoint(self.model, version, self.item_stats, self.metrics, self.info, part)


class _BatchScorer:
    """Runs the model on a numpy :class:`Batch`, projecting each distinct item of the batch once."""

    def __init__(self, model: AttentionRanker, vectors, device: str):
        import torch

        self.torch, self.model, self.device = torch, model, device
        self.vectors = vectors  # (N, D) tensor on device

    def __call__(self, b: Batch):
        torch, dev = self.torch, self.device
        # numpy's unique is much faster than torch's on the CPU; the inverse indexes the projected rows.
        uniq, inverse = np.unique(np.concatenate([b.cand_rows.ravel(), b.hist_rows.ravel()]), return_inverse=True)
        sub = self.vectors[torch.from_numpy(uniq).to(dev)]  # (U, D)
        m = self.model
        q_tab, k_tab, v_tab = m.query(sub), m.key(sub), m.value(sub)  # (U, A) each
        inverse = torch.from_numpy(inverse).to(dev)
        ci = inverse[: b.cand_rows.size].view(b.cand_rows.shape)  # (B, C)
        hi = inverse[b.cand_rows.size :].view(b.hist_rows.shape)  # (B, H)
        types = torch.from_numpy(b.hist_types).to(dev)
        recency = torch.from_numpy(b.hist_recency).to(dev)
        k, v = m.project_history(k_tab[hi], v_tab[hi], types, recency)  # (B, H, A)
        feats = torch.from_numpy(b.features).to(dev)
        mask = torch.from_numpy(b.hist_mask).to(dev)
        scores, _ = m.score_projected(q_tab[ci], k, v, feats, mask)  # (B, C)
        return scores


def fit(
    events: pd.DataFrame,
    items: ItemVectors,
    options: TrainOptions,
    *,
    progress: ProgressFn | None = None,
    log: Callable[[str], None] | None = None,
    max_train_examples: int | None = None,
) -> FitResult:
    """Train a ranker on ``events`` over the item vectors ``items``."""
    import torch

    from ranker.training.losses import LOSSES

    started = time.perf_counter()
    hp = options.ranker
    if hp.train_threads > 0:
        # Spinning OpenMP threads cost more than they give when the cores are shared (10x slower steps seen).
        torch.set_num_threads(hp.train_threads)
    torch.manual_seed(hp.seed)
    rng = np.random.default_rng(hp.seed)
    device = pick_device(hp.device)
    features = (*FEATURE_NAMES, "sequence") if options.sequence else FEATURE_NAMES
    config = RankerConfig(
        item_dim=items.dim,
        attention_dim=hp.attention_dim,
        hidden_dim=hp.hidden_dim,
        num_features=len(features),
        dropout=hp.dropout,
        feature_names=features,
        feature_history=hp.feature_history,
        history_length=hp.history_length,
    )
    data, train_ex = _examples(events, items, options, config, rng, max_train_examples)
    sequence, seq_scores = _sequence(data, items, options, device, log)
    aligned = _item_stats(data, items, through_end=False).aligned(items.ids, items.prices)
    validator = Validator(data, items.vectors, aligned, config, max_examples=hp.validation_examples, seed=hp.seed,
                          sequence=seq_scores)  # fmt: skip
    model = AttentionRanker(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)
    loss_fn = LOSSES[hp.loss]()
    run = _BatchScorer(model, torch.from_numpy(items.vectors).to(device), device)
    batches = _Batches(data, train_ex, items, aligned, config, options, rng, seq_scores)

    def val_scores(b: Batch) -> np.ndarray:
        with torch.inference_mode():
            return run(b).float().cpu().numpy()

    full_epoch = -(-len(train_ex) // hp.batch_size)
    per_epoch = min(full_epoch, hp.epoch_steps or full_epoch)
    total = per_epoch * hp.epochs
    best: tuple[float, dict, dict] | None = None
    epochs: list[dict[str, float]] = []
    bad_epochs = step = 0
    for epoch in range(1, hp.epochs + 1):
        model.train()
        losses = []
        epoch_started = time.perf_counter()
        for batch, log_q in islice(batches.epoch(), per_epoch):  # a fresh random sample when capped
            correction = None if log_q is None else torch.from_numpy(log_q).to(device)
            loss = loss_fn(run(batch), torch.from_numpy(batch.valid).to(device), correction)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if progress:
                progress(step, total)
        model.eval()
        seconds = time.perf_counter() - epoch_started  # the training steps only, validation apart
        val = validator.evaluate(val_scores)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "seconds": round(seconds, 3), **val}
        epochs.append(row)
        if log:
            scores = f"val ndcg@10 {val['ndcg@10']:.4f}, hr@10 {val['hr@10']:.4f}"
            log(f"epoch {epoch}: loss {row['train_loss']:.4f}, {scores}")
        if best is None or val["ndcg@10"] > best[0]:
            best, bad_epochs = (val["ndcg@10"], {k: v.detach().clone() for k, v in model.state_dict().items()}, row), 0
        else:
            bad_epochs += 1
            if bad_epochs >= hp.patience:
                break
    assert best is not None
    model.load_state_dict(best[1])
    info = {
        "device": device,
        "seconds": round(time.perf_counter() - started, 1),
        "train_examples": len(train_ex),
        "validation_examples": validator.examples,
        "items": len(items),
        "item_vectors_source": items.source,
        "epoch_seconds": [row["seconds"] for row in epochs],
        "epoch_steps": per_epoch,
        "full_epoch_steps": full_epoch,
        "options": options.as_dict(),
    }
    # Training and validation read statistics of the training period only (validation baskets must not be in
    # them); the model is served with statistics of every event, so its popularity, co-purchase and repeat
    # features are as fresh as its trend (the validation window is the newest, most telling part of the data).
    stats = _item_stats(data, items, through_end=True)
    metrics = _metrics(best[2], validator, log) | (sequence.metrics if sequence else {})
    if sequence:
        info["sequence_seconds"] = round(sequence.seconds, 1)
        info["sequence_epoch_seconds"] = [row["seconds"] for row in sequence.epochs]
        info["sequence_epoch_steps"] = [row["steps"] for row in sequence.epochs]
        info["sequence_full_epoch_steps"] = sequence.epochs[0]["full_steps"]
    return FitResult(model.cpu().eval(), stats, metrics, epochs, info, sequence.model if sequence else None)


def _sequence(
    data: NextItemData, items: ItemVectors, options: TrainOptions, device: str, log: Callable[[str], None] | None
) -> tuple[SequenceFit | None, SequenceScores | None]:
    """The sequence model, trained on the same training period, and its score of every example's candidates."""
    if options.sequence is None:
        return None, None
    hp = options.ranker
    fitted = fit_sequence(data, items, options.sequence, seed=hp.seed, device=device, threads=hp.train_threads,
                          log=log)  # fmt: skip
    scores = cross_fitted_scores(fitted, data, items, options.sequence, seed=hp.seed, device=device,
                                 threads=hp.train_threads, log=log)  # fmt: skip
    return fitted, scores


def _examples(
    events: pd.DataFrame, items: ItemVectors, options: TrainOptions, config: RankerConfig, rng: np.random.Generator,
    max_train_examples: int | None,
) -> tuple[NextItemData, np.ndarray]:  # fmt: skip
    """The next-item examples and the training ones among them (at most ``max_train_examples``, drawn at random);
    too few is an :class:`InputError` naming the validation setting."""
    hp = options.ranker
    data = build_examples(
        events, items, config, target_types=options.target_types, targets_per_basket=hp.targets_per_basket,
        validation_fraction=hp.validation_fraction, horizon_days=hp.horizon_days, seed=hp.seed,
    )  # fmt: skip
    train_ex = data.train_index
    if max_train_examples is not None and len(train_ex) > max_train_examples:
        train_ex = np.sort(rng.choice(train_ex, size=max_train_examples, replace=False))
    if len(train_ex) == 0 or len(data.validation_index) == 0:
        raise InputError(
            f"too few events to train: {len(train_ex)} training and {len(data.validation_index)} validation "
            "examples (a user needs at least two baskets, and events must span time; validation takes the newest "
            f"{hp.validation_fraction:.0%} of it: RECSEARCH_RANKER_VALIDATION_FRACTION)"
        )
    return data, train_ex


class _Batches:
    """The training batches of one epoch at a time: each example's positive against hard, uniform and in-batch
    negatives, with the log of how often each candidate is expected to be drawn (the logQ correction)."""

    def __init__(self, data: NextItemData, train_ex: np.ndarray, items: ItemVectors, aligned, config: RankerConfig,
                 options: TrainOptions, rng: np.random.Generator, sequence: SequenceScores | None):  # fmt: skip
        self.data, self.train_ex, self.items, self.aligned, self.config = data, train_ex, items, aligned, config
        self.sequence = sequence
        self.hp, self.log_q, self.rng = options.ranker, options.log_q_correction, rng
        # Expected draws of an item as a negative of one example: uniformly K/N, in-batch M x its target share;
        # the hard negatives add per-example draws (the user's own items, their co-purchases: hard_draw_rates).
        share = np.bincount(data.target[train_ex], minlength=len(items)) / len(train_ex)
        self.draws = self.hp.negatives / len(items) + min(self.hp.in_batch_negatives, self.hp.batch_size) * share
        self.steps = neighbour_steps(aligned.cooc)

    def epoch(self) -> Iterator[tuple[Batch, np.ndarray | None]]:
        hp, data = self.hp, self.data
        order = self.rng.permutation(self.train_ex)
        for start in range(0, len(order), hp.batch_size):
            ex = order[start : start + hp.batch_size]
            neg = np.concatenate([
                sample_hard(self.rng, data, ex, self.aligned.cooc, hp.hard_negatives, hp.feature_history),
                sample_negatives(self.rng, len(self.items), data.target[ex], hp.negatives),
            ], axis=1)  # fmt: skip
            batch = make_batch(data, ex, self.items.vectors, self.aligned, self.config, neg, hp.in_batch_negatives,
                               self.sequence)  # fmt: skip
            yield batch, self._log_q(ex, batch) if self.log_q else None

    def _log_q(self, ex: np.ndarray, batch: Batch) -> np.ndarray:
        expected = self.draws[batch.cand_rows]
        if self.hp.hard_negatives:
            expected = expected + hard_draw_rates(
                self.data, ex, batch.cand_rows, self.steps, self.hp.hard_negatives, self.hp.feature_history
            )
        return np.log(np.maximum(expected, 1e-12)).astype(np.float32)


def _metrics(best: dict, validator: Validator, log: Callable[[str], None] | None) -> dict[str, float]:
    """The best epoch's validation metrics, its loss, and the baselines on the same candidates."""
    metrics = {f"val_{k}": v for k, v in best.items() if k not in ("epoch", "train_loss", "seconds")}
    metrics["train_loss"] = best["train_loss"]
    baselines = validator.baselines()
    metrics.update({f"val_{k}": v for k, v in baselines.items()})
    if log:
        log("validation baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in baselines.items() if "ndcg" in k))
    metrics["best_epoch"] = float(best["epoch"])
    return metrics


def _item_stats(data: NextItemData, items: ItemVectors, *, through_end: bool) -> ItemStats:
    return ItemStats.fit(
        data.target_counts(items.ids, through_end),
        items.prices,
        data.cooccurrence(items.ids, through_end),
        data.repeat_rates(items.ids, through_end),
        data.latest_trend(items.ids),
    )
