"""Fine-tune the sentence-transformers embedding model on the shop's behaviour.

Positive pairs are items bought together or in sequence (:mod:`ranker.finetune_data`); the other pairs of a
batch are the negatives (``MultipleNegativesRankingLoss``, both directions). The text of an item is the text the
live index holds, so an enriched catalog trains on its enriched text. Training stops at ``max_steps`` or
``max_minutes``, whichever comes first, and the model is saved as a new version under
``<state dir>/models/embedding/<version>/`` (with ``finetune.json`` describing how it was made), ready for
``recadmin index build --model VERSION``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from indexer.embedding import resolve_model_path
from indexer.errors import InputError, ModelError
from indexer.settings import Settings
from ranker.finetune_data import PairSet, batches_without_repeats, cooccurrence_pairs

#: Called with (steps done, step budget, last loss).
StepFn = Callable[[int, int, float], None]
VALIDATION_PAIRS = 256


def embedding_models_dir(settings: Settings) -> Path:
    """Where fine-tuned embedding models are kept, one folder per version."""
    return Path(settings.state_dir) / "models" / "embedding"


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

    def as_dict(self) -> dict:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def pair_accuracy(model, texts_a: list[str], texts_b: list[str]) -> float:
    """Share of anchors whose own positive is the nearest of all the positives (a held-out sanity check)."""
    a = model.encode(texts_a, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    b = model.encode(texts_b, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return float((np.argmax(a @ b.T, axis=1) == np.arange(len(a))).mean())


def new_version(now: datetime | None = None) -> str:
    """``ft-20261127t221503``: sortable, one per second."""
    return "ft-" + (now or datetime.now(UTC)).strftime("%Y%m%dt%H%M%S")


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
    """Fine-tune ``settings.models.embedding`` on pairs from ``events`` (item id -> text from ``texts``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the CLI draws its own progress

    try:
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:  # older sentence-transformers
        from sentence_transformers.losses import MultipleNegativesRankingLoss

    cfg = settings.finetune
    max_steps = cfg.max_steps if max_steps is None else max_steps
    budget_s = 60.0 * (cfg.max_minutes if max_minutes is None else max_minutes)
    if max_steps < 1 or budget_s <= 0:
        raise InputError("the step and time budgets must be positive", field="max_steps")
    items = sorted(texts)
    pair_set: PairSet = cooccurrence_pairs(
        events, items, until=until, gap_days=cfg.sequence_gap_days, max_pairs=cfg.max_pairs + VALIDATION_PAIRS,
        min_count=cfg.min_pair_count, seed=cfg.seed,
    )  # fmt: skip
    if len(pair_set.pairs) < VALIDATION_PAIRS + cfg.batch_size:
        raise InputError(
            f"only {len(pair_set.pairs)} co-purchase pairs among catalog items before {until}; "
            "fine-tuning needs more events (or a later --until)"
        )
    validation, pairs = pair_set.pairs[:VALIDATION_PAIRS], pair_set.pairs[VALIDATION_PAIRS:]
    device = settings.models.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    base = resolve_model_path(settings.models.embedding)
    torch.manual_seed(cfg.seed)
    try:
        model = SentenceTransformer(str(base), device=device)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load embedding model from {base}: {str(e).splitlines()[0]}") from None
    val_a = [texts[a] for a, _ in validation]
    val_b = [texts[b] for _, b in validation]
    before = pair_accuracy(model, val_a, val_b)
    loss_fn = MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
    warmup = max(1, max_steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / max_steps)
    )
    prepare = getattr(model, "preprocess", None) or model.tokenize  # `tokenize` is deprecated in 6.x
    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    stopped_by, epoch, steps = "max_steps", 0, 0
    while steps < max_steps and stopped_by == "max_steps":
        for batch in batches_without_repeats(pairs, cfg.batch_size, seed=cfg.seed + epoch):
            features = [
                {k: v.to(model.device) if hasattr(v, "to") else v
                 for k, v in prepare([texts[pairs[i][side]] for i in batch]).items()}  # fmt: skip
                for side in (0, 1)
            ]
            loss = loss_fn(features, torch.empty(0))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            steps += 1
            losses.append(float(loss.detach()))
            if on_step:
                on_step(steps, max_steps, losses[-1])
            if steps >= max_steps:
                break
            if time.perf_counter() - start >= budget_s:
                stopped_by = "max_minutes"
                break
        epoch += 1
    seconds = time.perf_counter() - start
    model.eval()
    after = pair_accuracy(model, val_a, val_b)
    version = version or new_version()
    target = embedding_models_dir(settings) / version
    result = FinetuneResult(
        version=version, path=target, base_model=settings.models.embedding,
        until=str(until) if until is not None else None, steps=steps, pairs=len(pairs), seconds=seconds,
        stopped_by=stopped_by, text_source=text_source, losses=losses,
        validation={"pair_accuracy_before": before, "pair_accuracy_after": after, "pairs": len(validation)},
        pair_stats={"basket_links": pair_set.basket_links, "sequence_links": pair_set.sequence_links,
                    "candidates": pair_set.candidates},
    )  # fmt: skip
    _save(model, result, target)
    return result


def _save(model, result: FinetuneResult, target: Path) -> None:
    """Write into a temporary folder, then rename: a crash never leaves a half-written version."""
    if target.exists():
        raise ModelError(f"model version folder {target} already exists")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(tmp), create_model_card=False)
    (tmp / "finetune.json").write_text(json.dumps(result.as_dict(), indent=2))
    os.replace(tmp, target)


def list_versions(settings: Settings) -> list[dict]:
    """The fine-tuned models on disk, oldest first, each with its ``finetune.json``."""
    folder = embedding_models_dir(settings)
    out = []
    for path in sorted(folder.glob("ft-*")) if folder.exists() else []:
        meta_file = path / "finetune.json"
        if path.is_dir() and meta_file.exists():
            out.append(json.loads(meta_file.read_text()))
    return out


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
    alias: str | None = None,
    until: str | None = None,
    all_events: bool = False,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    on_step: StepFn | None = None,
) -> FinetuneResult:
    """``recadmin finetune``: events from the store (or a file), item texts from the live index, train, save."""
    from indexer.client import make_client
    from ranker.evaluation.catalog import load_catalog
    from ranker.evaluation.interactions import load_events
    from ranker.evaluation.reembed import cached_embedder

    alias = alias or settings.opensearch.index_alias
    catalog = load_catalog(make_client(settings.opensearch), alias, settings.opensearch.url, cached_embedder(settings))
    events = load_events(settings, events_path)
    cutoff = None if all_events else (pd.Timestamp(until) if until else default_until(settings, events))
    texts = {item: text for item, text in zip(catalog.ids, catalog.texts, strict=True) if text}
    enriched = bool(catalog.meta.get("enriched_items") or catalog.meta.get("enrichment"))
    source = f"index {alias} ({'enriched' if enriched else 'catalog'} text)"
    return finetune(
        settings, events, texts, until=cutoff, max_steps=max_steps, max_minutes=max_minutes,
        text_source=source, on_step=on_step,
    )  # fmt: skip
