"""Fine-tune the sentence-transformers embedding model on the shop's behaviour.

The k-NN baseline ranks the catalog by cosine with the mean of a customer's history vectors, so the item space
is good when that mean is close to what the customer buys next. Two objectives (``RECSEARCH_FINETUNE_OBJECTIVE``):

* ``history`` (default): that very ranking, made differentiable. Examples are the evaluation's time split at many
  cut points before the cutoff (:func:`ranker.finetune.data.history_examples`); the loss is a softmax over the
  whole catalog of the cosine with the normalised mean of the history vectors, averaged over the items bought in
  the following ``horizon_days``. What is trained is a linear layer (identity at the start) on top of the frozen
  encoder, saved as a standard ``Dense`` module: the catalog's base vectors are computed once, so a step costs
  milliseconds instead of a forward and backward pass of the transformer (on a shared 2-core CPU, ~15 s a step
  for a batch of 128 pairs: a 17-minute budget ran 59 steps, too few to do anything but damage the space).
* ``pairs``: the whole encoder on pairs of items one customer bought within ``window_days``
  (:func:`ranker.finetune.data.behaviour_pairs`), in-batch negatives (``MultipleNegativesRankingLoss``, both
  directions; no item twice in a batch). Needs a GPU or a quiet machine for enough steps.

The learning rate warms up over a fraction of the steps that will actually run (re-estimated from the measured
step time and the time budget) and decays linearly to zero at the last of them.

A held-out check runs before training, ``checks`` times during it and at the end, on customers whose events gave
no training example: NDCG@10 / recall@10 of k-NN on the mean of their history vectors over the whole catalog, for
the items they bought in the ``horizon_days`` before the cutoff (the evaluation's time split moved back before the
cutoff; history items eligible, and excluded), plus recall@10 of held-out pairs' positives among all catalog items.
The weights of the best check are the ones saved (the base weights when no check beat them), and the "after"
numbers are measured again with the saved model encoding the catalog text. The text of an item is the text the live
index holds, so an enriched catalog trains on its enriched text. The model is saved as a new version under
``<state dir>/models/embedding/<version>/`` (with ``finetune.json`` describing how it was made), ready for
``recadmin index build --model VERSION``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.device import pick_device
from core.embedding import resolve_model_path
from core.errors import InputError, ModelError
from core.paths import embedding_models
from core.settings import Settings
from ranker.finetune.check import heldout_check
from ranker.finetune.data import (
    HistoryExamples,
    PairSet,
    batches_without_repeats,
    behaviour_pairs,
    history_examples,
    holdout_users,
)
from ranker.finetune.versions import append_head, new_version, save_version

#: Called with (steps done, steps planned, last loss).
StepFn = Callable[[int, int, float], None]
VALIDATION_PAIRS = 500
#: The held-out number the best check is chosen by.
PRIMARY = "history_mean_ndcg@10"
#: Cosine scale of the softmaxes (the temperature of MultipleNegativesRankingLoss).
SCALE = 20.0


@dataclass
class FinetuneResult:
    """What a fine-tuning run did and where the model went."""

    version: str
    path: Path
    base_model: str
    until: str | None
    steps: int
    pairs: int
    seconds: float
    stopped_by: str
    text_source: str
    losses: list[float] = field(default_factory=list)
    validation: dict[str, float] = field(default_factory=dict)
    pair_stats: dict[str, int] = field(default_factory=dict)
    checks: list[dict[str, float]] = field(default_factory=list)
    selected_step: int = 0
    recipe: dict[str, float | int | str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def _encode(model, texts: list[str]) -> np.ndarray:
    return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


class _Plan:
    """How many steps will run: the step budget, or fewer when the time left at the measured pace says so.

    The learning-rate schedule reads ``total`` at every step, so warm-up and decay fit the steps that really run."""

    def __init__(self, max_steps: int, warmup_fraction: float):
        self.total, self.max_steps, self.warmup_fraction = max_steps, max_steps, warmup_fraction
        self.step_s: float | None = None

    def observe(self, steps: int, step_s: float, seconds_left: float) -> None:
        self.step_s = step_s if self.step_s is None else 0.8 * self.step_s + 0.2 * step_s
        self.total = max(steps, min(self.max_steps, steps + int(seconds_left / self.step_s)))

    def factor(self, step: int) -> float:
        warmup = max(1, int(self.warmup_fraction * self.total))
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (self.total - step) / max(1, self.total - warmup))


def _history_head_loss(torch, head, base, examples: HistoryExamples, batch: np.ndarray):
    """Softmax over the whole catalog of the cosine with the mean of each example's history vectors (the
    k-NN baseline's query), averaged over the example's targets: the baseline's own ranking, made differentiable."""
    vectors = torch.nn.functional.normalize(head(base), dim=-1)  # (items, dim)
    hs, ts = examples.history_start, examples.target_start
    h_rows = np.concatenate([examples.history[hs[k] : hs[k + 1]] for k in batch])
    h_of = torch.as_tensor(np.repeat(np.arange(len(batch)), hs[batch + 1] - hs[batch]))
    query = torch.zeros(len(batch), vectors.shape[1]).index_add_(0, h_of, vectors[torch.as_tensor(h_rows)])
    log_p = torch.log_softmax(SCALE * torch.nn.functional.normalize(query, dim=-1) @ vectors.T, dim=-1)
    t_rows = torch.as_tensor(np.concatenate([examples.targets[ts[k] : ts[k + 1]] for k in batch]))
    counts = ts[batch + 1] - ts[batch]
    t_of = torch.as_tensor(np.repeat(np.arange(len(batch)), counts))
    weights = torch.as_tensor(1.0 / np.repeat(counts, counts), dtype=log_p.dtype)
    return -(log_p[t_of, t_rows] * weights).sum() / len(batch)


def finetune(
    settings: Settings,
    events: pd.DataFrame,
    texts: dict[str, str],
    *,
    until: pd.Timestamp | None = None,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    text_source: str = "",
    version: str | None = None,
    on_step: StepFn | None = None,
) -> FinetuneResult:
    """Fine-tune ``settings.models.embedding`` on ``events`` (item id -> text from ``texts``).

    ``RECSEARCH_FINETUNE_OBJECTIVE=history`` (the default) trains a linear layer on top of the frozen encoder
    (identity at the start, so step 0 is the base model) with the k-NN baseline's own objective; ``pairs``
    trains the whole encoder on behaviour pairs with in-batch negatives."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the CLI draws its own progress

    cfg = settings.finetune
    if cfg.objective not in ("history", "pairs"):
        raise InputError(f"unknown fine-tuning objective {cfg.objective!r}; use 'history' or 'pairs'",
                         field="objective")  # fmt: skip
    max_steps = cfg.max_steps if max_steps is None else max_steps
    budget_s = 60.0 * (cfg.max_minutes if max_minutes is None else max_minutes)
    if max_steps < 1 or budget_s <= 0:
        raise InputError("the step and time budgets must be positive", field="max_steps")
    start = time.perf_counter()
    items = sorted(texts)
    cases = holdout_users(
        events, items, until=until, horizon_days=settings.evaluation.horizon_days, n_users=cfg.holdout_users,
        seed=cfg.seed,
    )  # fmt: skip
    held_out = {c.user_id for c in cases}
    validation = behaviour_pairs(
        events[events["user_id"].isin(held_out)], items, until=until, window_days=cfg.window_days,
        max_pairs=VALIDATION_PAIRS, damping=cfg.popularity_damping, seed=cfg.seed + 1,
    ).pairs  # fmt: skip
    if cfg.objective == "history":
        examples = history_examples(
            events, items, until=until, exclude_users=held_out, horizon_days=settings.evaluation.horizon_days,
            max_examples=cfg.max_pairs, seed=cfg.seed,
        )  # fmt: skip
        n_train, what = len(examples), "history -> next items examples"
        stats = {"users": examples.users, "examples": len(examples)}
    else:
        pair_set: PairSet = behaviour_pairs(
            events, items, until=until, exclude_users=held_out, window_days=cfg.window_days,
            max_pairs=cfg.max_pairs, damping=cfg.popularity_damping, seed=cfg.seed,
        )  # fmt: skip
        pairs = pair_set.pairs
        n_train, what = len(pairs), f"pairs of items bought by one customer within {cfg.window_days:g} days"
        stats = {"users": pair_set.users, "events": pair_set.events, "draws": pair_set.draws}
    if n_train < cfg.batch_size:
        raise InputError(
            f"only {n_train} {what} among catalog items before {until}; fine-tuning needs more events "
            "(or a later --until, or a smaller RECSEARCH_FINETUNE_BATCH_SIZE)"
        )
    device = pick_device(settings.models.device)
    base = resolve_model_path(settings.models.embedding)
    torch.manual_seed(cfg.seed)
    try:
        model = SentenceTransformer(str(base), device=device)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load embedding model from {base}: {str(e).splitlines()[0]}") from None

    checks: list[dict[str, float]] = []
    best: tuple[float, int, dict] | None = None
    base_vectors = _encode(model, [texts[i] for i in items])
    head = torch.nn.Linear(base_vectors.shape[1], base_vectors.shape[1])
    with torch.no_grad():
        head.weight.copy_(torch.eye(base_vectors.shape[1]))
        head.bias.zero_()
    cached = torch.as_tensor(base_vectors)

    def current_vectors() -> np.ndarray:
        if cfg.objective == "history":
            with torch.no_grad():
                return torch.nn.functional.normalize(head(cached), dim=-1).numpy()
        model.eval()
        with torch.no_grad():
            vectors = _encode(model, [texts[i] for i in items])
        model.train()
        return vectors

    def check(step: int, vectors: np.ndarray | None = None) -> float:
        """One held-out check; remembers the weights when it is the best so far. Returns its duration."""
        nonlocal best
        t0 = time.perf_counter()
        numbers = heldout_check(current_vectors() if vectors is None else vectors, items, cases, validation)
        checks.append({"step": step, **numbers})
        if best is None or numbers[PRIMARY] > best[0]:
            trained = head if cfg.objective == "history" else model
            best = (numbers[PRIMARY], step, {k: v.detach().clone() for k, v in trained.state_dict().items()})
        return time.perf_counter() - t0

    check_s = check(0, base_vectors)
    if cfg.objective == "history":
        params, lr = list(head.parameters()), cfg.head_learning_rate
        rng = np.random.default_rng(cfg.seed)
    else:
        try:
            from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        except ImportError:  # older sentence-transformers
            from sentence_transformers.losses import MultipleNegativesRankingLoss
        loss_fn = MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"))
        prepare = getattr(model, "preprocess", None) or model.tokenize  # `tokenize` is deprecated in 6.x
        params, lr = list(model.parameters()), cfg.learning_rate
        model.train()
    optimizer = torch.optim.AdamW(params, lr=lr)
    plan = _Plan(max_steps, cfg.warmup_fraction)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.factor)

    def batches(epoch: int):
        if cfg.objective == "history":
            order = rng.permutation(len(examples))
            return (order[i : i + cfg.batch_size] for i in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size))
        return batches_without_repeats(pairs, cfg.batch_size, seed=cfg.seed + epoch)

    losses: list[float] = []
    stopped_by, epoch, steps, next_check = "max_steps", 0, 0, 1
    while steps < max_steps and stopped_by == "max_steps":
        for batch in batches(epoch):
            t0 = time.perf_counter()
            if cfg.objective == "history":
                loss = _history_head_loss(torch, head, cached, examples, batch)
            else:
                features = [
                    {
                        k: v.to(model.device) if hasattr(v, "to") else v
                        for k, v in prepare([texts[pairs[i][side]] for i in batch]).items()
                    }
                    for side in (0, 1)
                ]
                loss = loss_fn(features, torch.empty(0))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            steps += 1
            losses.append(float(loss.detach()))
            checks_left = cfg.checks - next_check + 1  # the final one included
            seconds_left = budget_s - (time.perf_counter() - start) - checks_left * check_s
            plan.observe(steps, time.perf_counter() - t0, seconds_left)
            if on_step:
                on_step(steps, plan.total, losses[-1])
            if steps >= max_steps:
                break
            if seconds_left <= 0:
                stopped_by = "max_minutes"
                break
            if next_check < cfg.checks and steps >= next_check * plan.total / cfg.checks:
                check_s = check(steps)
                next_check += 1
        epoch += 1
    seconds = time.perf_counter() - start
    if checks[-1]["step"] != steps:
        check(steps)
    assert best is not None
    if cfg.objective == "history":
        head.load_state_dict(best[2])
        append_head(model, head)
    else:
        model.load_state_dict(best[2])
    model.eval()
    chosen = next(c for c in checks if c["step"] == best[1])
    # The saved model itself, encoding the catalog's text: what `recadmin index build --model` will index.
    saved = heldout_check(_encode(model, [texts[i] for i in items]), items, cases, validation)
    version = version or new_version()
    target = embedding_models(settings) / version
    summary = {f"{k}_before": v for k, v in checks[0].items() if k != "step"}
    summary |= {f"{k}_after": v for k, v in saved.items()}
    summary |= {"holdout_users": len(cases), "pairs": len(validation)}
    result = FinetuneResult(
        version=version, path=target, base_model=settings.models.embedding,
        until=str(until) if until is not None else None, steps=steps, pairs=n_train, seconds=seconds,
        stopped_by=stopped_by, text_source=text_source, losses=losses, validation=summary, pair_stats=stats,
        checks=checks, selected_step=best[1],
        recipe={"objective": cfg.objective, "batch_size": cfg.batch_size, "learning_rate": lr,
                "warmup_fraction": cfg.warmup_fraction, "planned_steps": plan.total,
                "window_days": cfg.window_days, "popularity_damping": cfg.popularity_damping,
                "selected_check": {k: v for k, v in chosen.items() if k != "step"}},
    )  # fmt: skip
    save_version(model, result.as_dict(), target)
    return result


def default_until(settings: Settings, events: pd.DataFrame) -> pd.Timestamp:
    """The evaluation's time-split cutoff, so a fine-tuned model never saw the evaluation's test period."""
    e = settings.evaluation
    if e.cutoff:
        return pd.Timestamp(e.cutoff)
    return events["ts"].max() - pd.Timedelta(days=e.horizon_days)


def finetune_from_settings(
    settings: Settings,
    *,
    events_path: Path | None = None,
    events_format: str | None = None,
    events_mapping: str | None = None,
    alias: str | None = None,
    until: str | None = None,
    all_events: bool = False,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    on_step: StepFn | None = None,
) -> FinetuneResult:
    """``recadmin finetune``: events from the store (or a file, read as ``recadmin feedback import`` reads it), item
    texts from the live index, train, save. The events are those the evaluation reads (its event types, items in
    the catalog)."""
    from core.opensearch.client import make_client
    from core.opensearch.documents import TEXT_FIELDS, read_items
    from ranker.feedback import load_events

    alias = alias or settings.opensearch.index_alias
    docs = read_items(make_client(settings.opensearch), alias, TEXT_FIELDS, settings.opensearch.url)
    events = load_events(settings, events_path, fmt=events_format, mapping=events_mapping,
                         types=settings.evaluation.event_types, catalog_only=True)  # fmt: skip
    cutoff = None if all_events else (pd.Timestamp(until) if until else default_until(settings, events))
    texts = {item: text for item, text in zip(docs.ids, docs.texts(), strict=True) if text}
    enriched = bool(docs.meta.get("enriched_items") or docs.meta.get("enrichment"))
    source = f"index {alias} ({'enriched' if enriched else 'catalog'} text)"
    return finetune(
        settings, events, texts, until=cutoff, max_steps=max_steps, max_minutes=max_minutes,
        text_source=source, on_step=on_step,
    )  # fmt: skip
