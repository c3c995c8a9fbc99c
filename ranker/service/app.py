"""The FastAPI app of the ranking service. ``recadmin serve`` and the tests build it the same way:

app = create_app(settings)                         # the real parts, loaded lazily
app = create_app(settings, deps=ServiceDeps(settings, profiles=fake, ...))   # tests
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from core.errors import ConfigError
from core.settings import Settings
from ranker.service.auth import ApiKeys, AuthGate, allowed_hosts, check_bind
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


@dataclass
class Served:
    """What `recadmin serve` runs: the app, where it listens, with how many worker processes, the environment those
    rebuild the app from (the command line's overrides), and the start-up lines to show (auth, Host names)."""

    app: FastAPI
    host: str
    port: int
    notes: list[str]
    warnings: list[str]
    workers: int = 1
    environment: dict[str, str] = field(default_factory=dict)


def serving(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    insecure: bool = False,
    workers: int | None = None,
) -> Served:
    """The service as `recadmin serve` runs it: ``host``/``port``/``workers`` override the settings (the Host check
    includes the bind host); :class:`ConfigError` for an open service (no API keys) on an interface other machines
    reach, unless ``insecure``, and for several workers over an in-memory store (each would have its own)."""
    service = settings.service.model_copy(update={"host": host or settings.service.host,
                                                  "port": port or settings.service.port,
                                                  "workers": workers or settings.service.workers})  # fmt: skip
    if service.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {service.workers}")
    settings = settings.model_copy(update={"service": service})
    keys = ApiKeys(service)
    check_bind(service.host, keys, insecure)
    app = create_app(settings, warm=True)  # also checks the Host names once, here, before any worker starts
    notes = [f"answering Host names: {', '.join(allowed_hosts(service))}"]
    warnings = [] if keys.enabled else [keys.describe()]
    if keys.enabled:
        notes.insert(0, keys.describe())
    environment: dict[str, str] = {}
    if service.workers > 1:
        warnings += _store_warnings(settings, service.workers)
        notes.append(f"{service.workers} worker processes; each loads the model and checks for a newly activated "
                     f"one every {service.model_check_s:g} s (RECSEARCH_SERVICE_MODEL_CHECK_S)")  # fmt: skip
        environment = {"RECSEARCH_SERVICE_HOST": service.host, "RECSEARCH_SERVICE_PORT": str(service.port),
                       "RECSEARCH_SERVICE_WORKERS": str(service.workers)}  # fmt: skip
    return Served(app, service.host, service.port, notes, warnings, service.workers, environment)


def _store_warnings(settings: Settings, workers: int) -> list[str]:
    """Several workers share the store: refused in memory, said for a SQLite file (writers take turns)."""
    url = settings.store.url
    if not url.startswith("sqlite"):
        return []
    if ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite://"):
        raise ConfigError(
            f"--workers {workers} over an in-memory SQLite store ({url}): each worker would have a store of its own; "
            "set RECSEARCH_STORE_URL to a file or to PostgreSQL"
        )
    return [
        f"{workers} workers share a SQLite store: their writes (events) take turns on the file's lock (WAL, up to "
        "30 s each); set RECSEARCH_STORE_URL to PostgreSQL for a shop's traffic"
    ]
