"""The FastAPI app of the ranking service. ``recadmin serve`` and the tests build it the same way:

app = create_app(settings)                         # the real parts, loaded lazily
app = create_app(settings, deps=ServiceDeps(settings, profiles=fake, ...))   # tests
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from core.settings import Settings
from ranker.service.auth import ApiKeys
from ranker.service.deps import ServiceDeps
from ranker.service.errors import install_error_handlers
from ranker.service.limits import BodySizeLimit
from ranker.service.metrics import MetricsMiddleware, ServiceMetrics
from ranker.service.routes import events, health, recommend, rerank, search, similar, storefront, users

log = logging.getLogger("recsearch.service")


def create_app(settings: Settings, *, deps: ServiceDeps | None = None, warm: bool = False) -> FastAPI:
    """The service app. ``warm`` loads every part in a background thread at start-up (what ``recadmin serve``
    does), so the first request does not pay for loading the models."""
    deps = deps or ServiceDeps(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if warm:
            threading.Thread(target=deps.warm, name="recsearch-warm", daemon=True).start()
        yield

    app = FastAPI(
        title="recsearch ranking service",
        version="1",
        description="Personalized search, recommendations and reranking over the shop's OpenSearch index.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.deps = deps
    app.state.metrics = ServiceMetrics()
    app.state.api_keys = ApiKeys(settings.service)
    install_error_handlers(app)
    for module in (search, recommend, similar, rerank, events, users, health, storefront):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=storefront.STATIC), name="static")
    # Outermost first: sizes are refused before anything reads the body; every request is counted.
    app.add_middleware(BodySizeLimit, max_bytes=settings.service.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
