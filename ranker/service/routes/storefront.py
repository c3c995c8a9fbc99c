"""The demo storefront: a static page at ``/`` and the list of users its picker offers."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse

from core.errors import ComponentUnavailable
from ranker.service.auth import require
from ranker.service.routes.common import deps_of

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(tags=["storefront"])


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    """The storefront page."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/v1/storefront/users", dependencies=[Depends(require("personal"))])
def sample_users(request: Request, k: int = Query(20, ge=1, le=200)) -> dict:
    """The most active users, for the storefront's user picker (empty when no events are imported). Personal
    scope: a list of customer ids is the way into their histories."""
    try:
        users = deps_of(request).activity.get().active_users(k)
    except ComponentUnavailable:
        users = []
    return {"users": users}
