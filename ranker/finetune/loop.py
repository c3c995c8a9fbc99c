"""Fine-tune the sentence-transformers embedding model on the shop's behaviour: the training loop.

The k-NN baseline ranks the catalog by cosine with the mean of a customer's history vectors, so the item space
is good when that mean is close to what the customer buys next. What is trained, and on which examples, is the
objective's business (``RECSEARCH_FINETUNE_OBJECTIVE``, :mod:`ranker.finetune.objectives`); this loop runs any of
them within the step and time budgets.

The learning rate warms up over a fraction of the steps that will actually run (re-estimated from the measured
step time and the time budget) and decays linearly to zero at the last of them.

A held-out check runs before training, ``checks`` times during it and at the end, on customers whose events gave
no training example: NDCG@10 / recall@10 of k-NN on the mean of their history vectors over the whole catalog, for
the items they bought in the ``horizon_days`` before the cutoff (the evaluation's time split moved back before the
cutoff; history items eligible, and excluded), plus recall@10 of held-out pairs' positives among all catalog items.
The weights of the best check are the ones saved (the base weights when no check beat them), and the "after"
numbers are measured again with the saved model encoding the catalog text. The text of an item is the text its
vector embeds in the live index (the enriched text where there is one). The model is saved as a new version under
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
from ranker.finetune.data import behaviour_pairs, holdout_users
from ranker.finetune.objectives import OBJECTIVES, encode
from ranker.finetune.versions import new_version, save_version

#: Called with (steps done, steps planned, last loss).
StepFn = Callable[[int, int, float], None]
VALIDATION_PAIRS = 500
#: The held-out number the best check is chosen by.
PRIMARY = "history_mean_ndcg@10"


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
    """Fine-tune ``settings.models.embedding`` on ``events`` (item id -> text from ``texts``) with the objective
    ``RECSEARCH_FINETUNE_OBJECTIVE`` names, and save the best checked weights as a new version."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the CLI draws its own progress
    cfg = settings.finetune
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
    model = _load_model(settings, torch)
    base_vectors = encode(model, [texts[i] for i in items])
    objective = OBJECTIVES[cfg.objective](torch, model, settings, events, texts, items, until, held_out, base_vectors)
    if objective.size < cfg.batch_size:
        raise InputError(
            f"only {objective.size} {objective.what} among catalog items before {until}; fine-tuning needs more "
            "events (or a later --until, or a smaller RECSEARCH_FINETUNE_BATCH_SIZE)"
        )
    checks = _Checks(objective, items, cases, validation)
    check_s = checks.run(0, base_vectors)
    optimizer = torch.optim.AdamW(objective.parameters(), lr=objective.learning_rate)
    plan = _Plan(max_steps, cfg.warmup_fraction)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.factor)
    losses: list[float] = []
    stopped_by, epoch, steps, next_check = "max_steps", 0, 0, 1
    while steps < max_steps and stopped_by == "max_steps":
        for batch in objective.batches(epoch):
            t0 = time.perf_counter()
            loss = objective.loss(batch)
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
                check_s = checks.run(steps)
                next_check += 1
        epoch += 1
    seconds = time.perf_counter() - start
    if checks.done[-1]["step"] != steps:
        checks.run(steps)
    objective.finish(checks.best_weights)
    model.eval()
    # The saved model itself, encoding the catalog's text: what `recadmin index build --model` will index.
    saved = heldout_check(encode(model, [texts[i] for i in items]), items, cases, validation)
    version = version or new_version()
    target = embedding_models(settings) / version
    summary = {f"{k}_before": v for k, v in checks.done[0].items() if k != "step"}
    summary |= {f"{k}_after": v for k, v in saved.items()}
    summary |= {"holdout_users": len(cases), "pairs": len(validation)}
    chosen = next(c for c in checks.done if c["step"] == checks.best_step)
    result = FinetuneResult(
        version=version, path=target, base_model=settings.models.embedding,
        until=str(until) if until is not None else None, steps=steps, pairs=objective.size, seconds=seconds,
        stopped_by=stopped_by, text_source=text_source, losses=losses, validation=summary,
        pair_stats=objective.stats, checks=checks.done, selected_step=checks.best_step,
        recipe={"objective": cfg.objective, "batch_size": cfg.batch_size, "learning_rate": objective.learning_rate,
                "warmup_fraction": cfg.warmup_fraction, "planned_steps": plan.total,
                "window_days": cfg.window_days, "popularity_damping": cfg.popularity_damping,
                "selected_check": {k: v for k, v in chosen.items() if k != "step"}},
    )  # fmt: skip
    save_version(model, result.as_dict(), target)
    return result


def _load_model(settings: Settings, torch):
    """The base embedding model, on the configured device, with the run's seed set."""
    from sentence_transformers import SentenceTransformer

    base = resolve_model_path(settings.models.embedding)
    torch.manual_seed(settings.finetune.seed)
    try:
        return SentenceTransformer(str(base), device=pick_device(settings.models.device))
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load embedding model from {base}: {str(e).splitlines()[0]}") from None


class _Checks:
    """The held-out checks of one run, and the weights of the best one so far (by :data:`PRIMARY`)."""

    def __init__(self, objective, items: list[str], cases, validation: list[tuple[str, str]]):
        self.objective, self.items, self.cases, self.validation = objective, items, cases, validation
        self.done: list[dict[str, float]] = []
        self.best: float | None = None
        self.best_step = 0
        self.best_weights: dict = {}

    def run(self, step: int, vectors: np.ndarray | None = None) -> float:
        """One check (on ``vectors``, else on the objective's current ones); returns how long it took."""
        t0 = time.perf_counter()
        vectors = self.objective.vectors() if vectors is None else vectors
        numbers = heldout_check(vectors, self.items, self.cases, self.validation)
        self.done.append({"step": step, **numbers})
        if self.best is None or numbers[PRIMARY] > self.best:
            self.best, self.best_step, self.best_weights = numbers[PRIMARY], step, self.objective.weights()
        return time.perf_counter() - t0


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
