"""The one choice of a torch device, for every model the project loads or trains."""

from __future__ import annotations


def pick_device(name: str) -> str:
    """``auto`` is CUDA when torch sees a GPU, else the CPU; any other name (``cpu``, ``cuda``, ``cuda:1``) as given."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
