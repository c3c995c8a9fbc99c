"""The storefront: a static shop page at ``/``, what it shows of the shop (name, currency) and the list of users
its picker offers. The page (``static/``) calls the public API like any client: docs/service.md#storefront."""

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


@router.get("/storefront/config")
def config(request: Request) -> dict:
    """What the page shows of the shop: its name and the ISO 4217 currency of the prices. Open, like the page:
    it holds nothing a visitor of the shop would not see."""
    service = deps_of(request).settings.service
    return {"shop_name": service.shop_name, "currency": service.currency}


@router.get("/v1/storefront/users", dependencies=[Depends(require("personal"))])
def sample_users(request: Request, k: int = Query(20, ge=1, le=200)) -> dict:
    """The most active users, for the storefront's user picker (empty when no events are imported). Personal
    scope: a list of customer ids is the way into their histories."""
    try:
        users = deps_of(request).activity.get().active_users(k)
    except ComponentUnavailable:
        users = []
    return {"users": users}
