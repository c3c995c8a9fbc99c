"""/healthz (the process answers), /readyz (OpenSearch and the live index reachable; part states), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from core.errors import ComponentUnavailable
from ranker.service.routes.common import deps_of, metrics_of

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """Liveness: the process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when searches can be answered (OpenSearch and the live index), else 503. The model and the
    profile store are listed but do not gate readiness: without them answers fall back to retrieval order."""
    deps = deps_of(request)
    body: dict = {"status": "ready", "index": None}
    try:
        body["index"] = deps.index.get().ping()
    except (ComponentUnavailable, Exception) as e:
        body.update(status="unavailable", error=str(e))
    body["parts"] = deps.states()
    return JSONResponse(body, 200 if body["status"] == "ready" else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return Response(metrics_of(request).render(), media_type=CONTENT_TYPE_LATEST)
