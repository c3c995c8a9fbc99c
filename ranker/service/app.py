"""The FastAPI app of the ranking service. ``recadmin serve`` and the tests build it the same way:

app = create_app(settings)                         # the real parts, loaded lazily
app = create_app(settings, deps=ServiceDeps(settings, profiles=fake, ...))   # tests
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from core.settings import Settings
from ranker.service.auth import ApiKeys, AuthGate, allowed_hosts
from ranker.service.deps import ServiceDeps
from ranker.service.errors import install_error_handlers
from ranker.service.limits import BodySizeLimit
from ranker.service.metrics import MetricsMiddleware, ServiceMetrics
from ranker.service.routes import admin, events, health, recommend, rerank, search, similar, storefront, users

log = logging.getLogger("recsearch.service")


def create_app(settings: Settings, *, deps: ServiceDeps | None = None, warm: bool = False) -> FastAPI:
    """The service app. ``warm`` loads every part in a background thread at start-up (what ``recadmin serve``
    does), so the first request does not pay for loading the models."""
    deps = deps or ServiceDeps(settings)
    keys = ApiKeys(settings.service)
    hosts = allowed_hosts(settings.service)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        log.log(logging.INFO if keys.enabled else logging.WARNING, "%s", keys.describe())
        log.info("answering Host names: %s", ", ".join(hosts))
        if warm:
            threading.Thread(target=deps.warm, name="recsearch-warm", daemon=True).start()
            deps.watch_model()
        try:
            yield
        finally:
            deps.close()  # the impressions still queued are written before the process ends

    app = FastAPI(
        title="recsearch ranking service",
        version="1",
        description="Personalized search, recommendations and reranking over the shop's OpenSearch index.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.deps = deps
    app.state.metrics = ServiceMetrics()
    app.state.metrics.watch_impressions(lambda: deps.impressions.stats)
    app.state.api_keys = keys
    install_error_handlers(app)
    for module in (search, recommend, similar, rerank, events, users, health, storefront, admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=storefront.STATIC), name="static")
    # Added innermost first. From the outside in: every request is counted; a foreign Host (DNS rebinding) is
    # refused; a protected path without a known key is refused; a body over the limit is refused: all before
    # anything reads the body.
    app.add_middleware(BodySizeLimit, max_bytes=settings.service.max_request_bytes)
    app.add_middleware(AuthGate, keys=keys, protect_ops=settings.service.protect_metrics_and_docs)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(WorkerHeader)
    return app


class WorkerHeader:
    """Names the process that answered in every response (``X-Recsearch-Worker: <pid>``): with `recadmin serve
    --workers N` a client (a test, an operator with curl) can tell the workers apart."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        worker = str(os.getpid()).encode()

        async def named(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-recsearch-worker", worker)]
            await send(message)

        return await self.app(scope, receive, named)
