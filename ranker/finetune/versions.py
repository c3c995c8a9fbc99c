"""Fine-tuned embedding models on disk: one folder per version under ``<state dir>/models/embedding/``, each a
sentence-transformers model with the ``finetune.json`` that says how it was made."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ModelError
from core.paths import embedding_models
from core.settings import Settings


def new_version(now: datetime | None = None) -> str:
    """``ft-20261127t221503``: sortable, one per second."""
    return "ft-" + (now or datetime.now(UTC)).strftime("%Y%m%dt%H%M%S")


def append_head(model, head) -> None:
    """Append the trained linear layer and a final normalisation to the model, as standard modules that any
    sentence-transformers loader (``recadmin index build --model``) rebuilds."""
    import torch
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize

    dense = Dense(head.in_features, head.out_features, bias=True, activation_function=torch.nn.Identity())
    dense.linear.load_state_dict(head.state_dict())
    model.append(dense.to(model.device))
    model.append(Normalize())


def save_version(model, meta: dict, target: Path) -> None:
    """Write into a temporary folder, then rename: a crash never leaves a half-written version."""
    if target.exists():
        raise ModelError(f"model version folder {target} already exists")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(tmp), create_model_card=False)
    (tmp / "finetune.json").write_text(json.dumps(meta, indent=2))
    os.replace(tmp, target)


def list_versions(settings: Settings) -> list[dict]:
    """The fine-tuned models on disk, oldest first, each with its ``finetune.json``."""
    folder = embedding_models(settings)
    out = []
    for path in sorted(folder.glob("ft-*")) if folder.exists() else []:
        meta_file = path / "finetune.json"
        if path.is_dir() and meta_file.exists():
            out.append(json.loads(meta_file.read_text()))
    return out
