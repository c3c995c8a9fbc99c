"""Ranker checkpoints: weights beside their config, version and item statistics, so a file rebuilds its model.

Only plain types and tensors are stored, so loading uses ``torch.load(weights_only=True)`` (no pickled code).
Writes go to a temporary file of the writing process alone (synced, then renamed): a crash never leaves a
half-written checkpoint, and two writers never share a file.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ModelError
from ranker.model.item_stats import ItemStats
from ranker.model.network import AttentionRanker, RankerConfig
from ranker.model.sequence import SequenceConfig, SequenceModel

FORMAT = 1


@dataclass
class SequencePart:
    """The sequence model a ranker version carries, and its vocabulary: id-embedding row ``r + 1`` is the item
    ``item_ids[r]`` (an item the model was not trained with has no id row: its vector comes from its text)."""

    model: SequenceModel
    item_ids: list[str]


@dataclass
class Checkpoint:
    """A loaded (or to-be-saved) model with what scoring needs besides the weights."""

    model: AttentionRanker
    version: str
    item_stats: ItemStats
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    sequence: SequencePart | None = None

    @property
    def config(self) -> RankerConfig:
        return self.model.config


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> Path:
    """Write ``checkpoint`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write_checkpoint(checkpoint, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    """Write ``checkpoint`` to ``path`` in place and sync it to disk (callers rename it into place:
    :func:`save_checkpoint`, :func:`ranker.model.registry.register_new`)."""
    import torch

    payload = {
        "format": FORMAT,
        "version": checkpoint.version,
        "config": checkpoint.model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in checkpoint.model.state_dict().items()},
        "item_stats": checkpoint.item_stats.to_dict(),
        "metrics": {k: float(v) for k, v in checkpoint.metrics.items()},
        "info": checkpoint.info,
    }
    if checkpoint.sequence is not None:
        seq = checkpoint.sequence
        payload["sequence"] = {
            "config": seq.model.config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in seq.model.state_dict().items()},
            "item_ids": list(seq.item_ids),
        }
    with open(path, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(path: Path) -> Checkpoint:
    """Rebuild the model a checkpoint describes (eval mode, CPU)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ranker checkpoint {path} does not exist; train one with `recadmin train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which file, not a pickle traceback
        raise ModelError(f"cannot read ranker checkpoint {path}: {type(e).__name__}: {e}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelError(f"{path} is not a ranker checkpoint of format {FORMAT} (found {got!r})")
    info = dict(payload.get("info") or {})
    config = dict(payload["config"])
    if "history_length" not in config:  # checkpoints before the length was part of the config: it was an option
        config["history_length"] = int((info.get("options") or {}).get("history_length", RankerConfig.history_length))
    model = AttentionRanker(RankerConfig.from_dict(config))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as e:
        raise ModelError(f"ranker checkpoint {path} does not match its config: {e}") from None
    model.eval()
    return Checkpoint(
        model=model,
        version=str(payload["version"]),
        item_stats=ItemStats.from_dict(payload["item_stats"]),
        metrics=dict(payload.get("metrics") or {}),
        info=info,
        sequence=_sequence(payload.get("sequence"), path),
    )


def _sequence(part: dict | None, path: Path) -> SequencePart | None:
    """The sequence model of a checkpoint (None for a version trained without one)."""
    if not part:
        return None
    model = SequenceModel(SequenceConfig.from_dict(part["config"]))
    try:
        model.load_state_dict(part["state_dict"])
    except RuntimeError as e:
        raise ModelError(f"the sequence model of checkpoint {path} does not match its config: {e}") from None
    return SequencePart(model.eval(), [str(i) for i in part["item_ids"]])
