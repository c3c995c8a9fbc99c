"""Prometheus metrics of one app instance (its own registry, so several apps in one test process do not clash)."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Methods counted by name; any other token (h11 accepts any) is counted as OTHER, so a client cannot grow the
#: label set (and the memory and /metrics size) without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """Request counts and latencies per route, personalization and fallback counts, part failures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recsearch_requests", "HTTP requests by route and status.", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "recsearch_request_seconds", "Request latency by route.", ["route"], buckets=_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.personalized = Counter(
            "recsearch_rankings", "Rankings by whether they were personalized.", ["personalized"],
            registry=self.registry,
        )  # fmt: skip
        self.fallbacks = Counter(
            "recsearch_fallbacks", "Rankings left in retrieval order, by reason.", ["reason"], registry=self.registry
        )
        self.component_errors = Counter(
            "recsearch_component_errors", "Failures of a part (model, profile_store, opensearch).", ["component"],
            registry=self.registry,
        )  # fmt: skip

    def watch_impressions(self, stats: Callable[[], dict[str, int]]) -> None:
        """Expose the impression recorder's counts (queued, written, dropped, failed) as
        ``recsearch_impressions_total{outcome}``, read at each scrape."""
        self.registry.register(_ImpressionCounts(stats))

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


class _ImpressionCounts:
    """A collector over the recorder's own counters (it counts on its writer thread, apart from any app)."""

    def __init__(self, stats: Callable[[], dict[str, int]]):
        self.stats = stats

    def collect(self):
        family = CounterMetricFamily(
            "recsearch_impressions", "Answers recorded as UBI queries, by outcome.", labels=["outcome"]
        )
        for outcome, n in sorted(self.stats().items()):
            family.add_metric([outcome], n)
        yield family


class MetricsMiddleware:
    """Counts every request by its route template (``/v1/recommend/{user_id}``, not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.requests.labels(method, name, str(status["code"])).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - start)
