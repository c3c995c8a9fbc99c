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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.device import pick_device
from core.errors import InputError
from core.progress import ProgressFn
from ranker.model import FEATURE_NAMES, AttentionRanker, ItemStats, ItemVectors, RankerConfig
from ranker.training.examples import Batch, NextItemData, build_examples, make_batch
from ranker.training.negatives import hard_draw_rates, neighbour_steps, sample_hard, sample_negatives
from ranker.training.options import TrainOptions
from ranker.training.validation import Validator


@dataclass
class FitResult:
    """A fitted model with what the checkpoint and the registry record."""

    model: AttentionRanker
    item_stats: ItemStats
    metrics: dict[str, float]
    epochs: list[dict[str, float]] = field(default_factory=list)
    info: dict = field(default_factory=dict)


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
    config = RankerConfig(
        item_dim=items.dim,
        attention_dim=hp.attention_dim,
        hidden_dim=hp.hidden_dim,
        num_features=len(FEATURE_NAMES),
        dropout=hp.dropout,
        feature_names=FEATURE_NAMES,
        feature_history=hp.feature_history,
        history_length=hp.history_length,
    )
    data = build_examples(
        events,
        items,
        config,
        target_types=options.target_types,
        targets_per_basket=hp.targets_per_basket,
        validation_fraction=hp.validation_fraction,
        horizon_days=hp.horizon_days,
        seed=hp.seed,
    )
    train_ex = data.train_index
    if max_train_examples is not None and len(train_ex) > max_train_examples:
        train_ex = np.sort(rng.choice(train_ex, size=max_train_examples, replace=False))
    if len(train_ex) == 0 or len(data.validation_index) == 0:
        raise InputError(
            f"too few events to train: {len(train_ex)} training and {len(data.validation_index)} validation "
            "examples (a user needs at least two baskets, and events must span time; validation takes the newest "
            f"{hp.validation_fraction:.0%} of it: RECSEARCH_RANKER_VALIDATION_FRACTION)"
        )
    stats = _item_stats(data, items, through_end=False)
    aligned = stats.aligned(items.ids, items.prices)
    validator = Validator(
        data, items.vectors, aligned, config, max_examples=hp.validation_examples, seed=hp.seed,
    )  # fmt: skip
    model = AttentionRanker(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)
    loss_fn = LOSSES[hp.loss]()
    run = _BatchScorer(model, torch.from_numpy(items.vectors).to(device), device)

    def val_scores(b: Batch) -> np.ndarray:
        with torch.inference_mode():
            return run(b).float().cpu().numpy()

    # Expected times an item is drawn as a negative of one example: uniformly K/N, in-batch M x its target share.
    target_share = np.bincount(data.target[train_ex], minlength=len(items)) / len(train_ex)
    draws = hp.negatives / len(items) + min(hp.in_batch_negatives, hp.batch_size) * target_share
    # Hard negatives add per-example draws (the user's own items, their co-purchases): see hard_draw_rates.
    steps = neighbour_steps(aligned.cooc)
    steps_per_epoch = -(-len(train_ex) // hp.batch_size)
    total = steps_per_epoch * hp.epochs
    best: tuple[float, dict, dict] | None = None
    epochs: list[dict[str, float]] = []
    bad_epochs = 0
    step = 0
    for epoch in range(1, hp.epochs + 1):
        model.train()
        order = rng.permutation(train_ex)
        losses = []
        for start in range(0, len(order), hp.batch_size):
            ex = order[start : start + hp.batch_size]
            neg = np.concatenate([
                sample_hard(rng, data, ex, aligned.cooc, hp.hard_negatives, hp.feature_history),
                sample_negatives(rng, len(items), data.target[ex], hp.negatives),
            ], axis=1)  # fmt: skip
            batch = make_batch(data, ex, items.vectors, aligned, config, neg, hp.in_batch_negatives)
            correction = None
            if options.log_q_correction:
                expected = draws[batch.cand_rows]
                if hp.hard_negatives:
                    expected = expected + hard_draw_rates(
                        data, ex, batch.cand_rows, steps, hp.hard_negatives, hp.feature_history
                    )
                correction = torch.from_numpy(np.log(np.maximum(expected, 1e-12)).astype(np.float32)).to(device)
            loss = loss_fn(run(batch), torch.from_numpy(batch.valid).to(device), correction)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if progress:
                progress(step, total)
        model.eval()
        val = validator.evaluate(val_scores)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)), **val}
        epochs.append(row)
        if log:
            log(
                f"epoch {epoch}: loss {row['train_loss']:.4f}, "
                f"val ndcg@10 {val['ndcg@10']:.4f}, hr@10 {val['hr@10']:.4f}"
            )
        if best is None or val["ndcg@10"] > best[0]:
            best = (val["ndcg@10"], {k: v.detach().clone() for k, v in model.state_dict().items()}, row)
            bad_epochs = 0
        else:
            bad_epochs += 1
            if bad_epochs >= hp.patience:
                break
    assert best is not None
    model.load_state_dict(best[1])
    model = model.cpu().eval()
    metrics = {f"val_{k}": v for k, v in best[2].items() if k not in ("epoch", "train_loss")}
    metrics["train_loss"] = best[2]["train_loss"]
    baselines = validator.baselines()
    metrics.update({f"val_{k}": v for k, v in baselines.items()})
    if log:
        log("validation baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in baselines.items() if "ndcg" in k))
    metrics["best_epoch"] = float(best[2]["epoch"])
    info = {
        "device": device,
        "seconds": round(time.perf_counter() - started, 1),
        "train_examples": len(train_ex),
        "validation_examples": validator.examples,
        "items": len(items),
        "item_vectors_source": items.source,
        "options": options.as_dict(),
    }
    # Training and validation read statistics of the training period only (validation baskets must not be in
    # them); the model is served with statistics of every event, so its popularity, co-purchase and repeat
    # features are as fresh as its trend (the validation window is the newest, most telling part of the data).
    return FitResult(model, _item_stats(data, items, through_end=True), metrics, epochs, info)


def _item_stats(data: NextItemData, items: ItemVectors, *, through_end: bool) -> ItemStats:
    return ItemStats.fit(
        data.target_counts(items.ids, through_end),
        items.prices,
        data.cooccurrence(items.ids, through_end),
        data.repeat_rates(items.ids, through_end),
        data.latest_trend(items.ids),
    )
