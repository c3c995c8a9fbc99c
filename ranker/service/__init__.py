"""The ranking service (FastAPI): search, recommendations, similar items, the plugin's rerank endpoint, events,
health and metrics, and the demo storefront. Build it with :func:`create_app`; tests hand it their own parts
through :class:`ServiceDeps`."""

from ranker.service.app import Served, create_app, serving
from ranker.service.deps import ServiceDeps

__all__ = ["Served", "ServiceDeps", "create_app", "serving"]
