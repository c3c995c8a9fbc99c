"""/healthz (the process answers: cheap, on the event loop), /readyz (loaded and reachable; part states and
reason codes), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ranker.service.readiness import readiness
from ranker.service.routes.common import deps_of, metrics_of

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """Liveness: the process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when the parts are loaded and OpenSearch and the store answer now (``degraded`` when only the
    model is missing: answers in retrieval order), else 503 (``starting`` while the warm-up loads, ``unavailable``).
    Part states and reason codes only (:mod:`ranker.service.readiness`); the details are in the log."""
    status, body = readiness(deps_of(request))
    return JSONResponse(body, status)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return Response(metrics_of(request).render(), media_type=CONTENT_TYPE_LATEST)
