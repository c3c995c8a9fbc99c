"""The admin page: ``/admin`` (static HTML, open: it holds no data), its data at ``/v1/admin/overview`` and the
evaluation reports at ``/v1/admin/reports/{name}``, both behind the write scope. A browser sends no bearer header
when it navigates, so the page asks for the key and sends it with its own requests: docs/service.md#admin-page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse

from ranker.service.admin import AdminOverview, overview
from ranker.service.auth import require
from ranker.service.routes.common import deps_of
from ranker.service.routes.storefront import STATIC

router = APIRouter(tags=["admin"])

#: A report is our own HTML, but it is shown as a document of no origin: no scripts, no access to the page's key.
REPORT_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


@router.get("/admin", include_in_schema=False)
def page() -> FileResponse:
    """The admin page."""
    return FileResponse(STATIC / "admin.html", media_type="text/html")


def report_url(name: str) -> str:
    return "/v1/admin/reports/" + quote(name, safe="")


@router.get("/v1/admin/overview", dependencies=[Depends(require("write"))])
def admin_overview(request: Request) -> AdminOverview:
    """Index versions behind the alias, ranker versions, evaluation reports and experiments with their win rates
    as of now; a part that cannot be read has an ``error`` instead of rows."""
    deps = deps_of(request)
    return overview(deps.admin, alias=deps.settings.opensearch.index_alias, report_url=report_url)


@router.get(
    "/v1/admin/reports/{name}",
    dependencies=[Depends(require("write"))],
    response_class=FileResponse,
    responses={404: {"description": "not a report the overview lists"}},
)
def report(name: str, request: Request) -> FileResponse:
    """An evaluation report's HTML, by a name the overview lists (nothing else in or outside the folder)."""
    found = deps_of(request).admin.report(name)
    if found is None:
        raise HTTPException(404, "no such evaluation report (the overview lists them)")
    return FileResponse(found.html, media_type="text/html", headers=REPORT_HEADERS)
