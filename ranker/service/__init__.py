"""The ranking service (FastAPI): search, recommendations, similar items, the plugin's rerank endpoint, events,
health and metrics, and the demo storefront. Build it with :func:`create_app`; tests hand it their own parts
through :class:`ServiceDeps`. `recadmin serve` runs :func:`serving`'s answer with :func:`run_served` (one process,
or several workers).

The names load on first use (PEP 562): the supervisor of several workers imports :func:`serving` and
:func:`run_served` without the app's model code and torch (hundreds of MB it would hold for nothing)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ranker.service.app import create_app
    from ranker.service.deps import ServiceDeps
    from ranker.service.launch import Served, serving
    from ranker.service.workers import run_served

__all__ = ["Served", "ServiceDeps", "create_app", "run_served", "serving"]
_HOMES = {"Served": "launch", "ServiceDeps": "deps", "create_app": "app", "run_served": "workers",
          "serving": "launch"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
