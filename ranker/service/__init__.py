"""The ranking service (FastAPI): search, recommendations, similar items, the plugin's rerank endpoint, events,
health and metrics, and the demo storefront. Build it with :func:`create_app`; tests hand it their own parts
through :class:`ServiceDeps`. `recadmin serve` runs :func:`serving`'s answer with :func:`run_served` (one process,
or several workers)."""

from ranker.service.app import Served, create_app, serving
from ranker.service.deps import ServiceDeps
from ranker.service.workers import run_served

__all__ = ["Served", "ServiceDeps", "create_app", "run_served", "serving"]
