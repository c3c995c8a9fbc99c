"""The layout of the state folder (``RECSEARCH_STATE_DIR``, default ``.state/``), named once.

<state>/recsearch.db                 the SQLite store (default RECSEARCH_STORE_URL)
<state>/opensearch/                  the local node (RECSEARCH_NODE_HOME)
<state>/models/ranker-v<N>.pt        ranker checkpoints (RECSEARCH_RANKER_MODEL_DIR, relative to the state folder)
<state>/models/embedding/<version>/  fine-tuned embedding models (`recadmin finetune`)
<state>/models/llm/<name>/           local LLM checkpoints converted from a GGUF file
<state>/rejects/<file>.*-rejects.jsonl  rows of a catalog or event file that were not used
<state>/cache/vectors/<hash>.npy     texts re-embedded by the evaluation
"""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings


def ranker_models(settings: Settings) -> Path:
    """Where ranker checkpoints go: ``RECSEARCH_RANKER_MODEL_DIR``, a relative one inside the state folder."""
    folder = settings.ranker.model_dir
    return folder if folder.is_absolute() else settings.state_dir / folder


def embedding_models(settings: Settings) -> Path:
    """The fine-tuned embedding model versions, one folder each."""
    return Path(settings.state_dir) / "models" / "embedding"


def llm_models(state_dir: Path) -> Path:
    """Local LLM checkpoints converted from GGUF files."""
    return Path(state_dir) / "models" / "llm"


def rejects_file(settings: Settings, source: Path, kind: str) -> Path:
    """The reject file of one source file: ``<state>/rejects/<stem>.<kind>-rejects.jsonl`` (kind: catalog, events)."""
    return Path(settings.state_dir) / "rejects" / f"{Path(source).stem}.{kind}-rejects.jsonl"


def vector_cache(settings: Settings) -> Path:
    """Vectors the evaluation computed for an index's texts."""
    return Path(settings.state_dir) / "cache" / "vectors"
