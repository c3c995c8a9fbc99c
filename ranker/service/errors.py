"""One place that turns errors into HTTP answers: a JSON body with ``error`` (one line naming the field or the
cause) and, for validation errors, FastAPI's ``detail`` list.

    InputError / validation error     422  (the message names the request field)
    no or unknown API key             401  (ranker.service.auth)
    body over the size limit          413  (ranker.service.limits)
    OpenSearchError (down, no index)  503  (the shop can fall back to its own search)
    SQL store busy or unreachable     503  (SQLAlchemy OperationalError, pool timeout)
    other RecSearchError              503
    anything else                     500  (logged; never expected)

A 503 tells the caller only a generic line, a ``reason`` code and when to retry (``Retry-After`` and
``retry_after_s``); the cause (cluster URL, paths, database messages) goes to the log, never to the caller.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    ClusterUnreachable,
    ComponentUnavailable,
    IndexMissing,
    InputError,
    OpenSearchError,
    RecSearchError,
)

log = logging.getLogger("recsearch.service")


def field_path(loc: tuple | list) -> str:
    """``("body", "hits", 3, "id")`` -> ``hits[3].id``; query and path parameters keep their name."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]  # where it came from; the field's own name follows
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    name = field_path(first.get("loc", ("body",)))
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return JSONResponse({"error": f"field '{name}': {first.get('msg', 'invalid')}{more}", "detail": detail}, 422)


def _input(_: Request, exc: InputError) -> JSONResponse:
    loc = ["body", exc.field] if exc.field else ["body"]
    return JSONResponse({"error": str(exc), "detail": [{"loc": loc, "msg": str(exc), "type": "value_error"}]}, 422)


RETRY_AFTER_S = 5


def unavailable(error: str, reason: str) -> JSONResponse:
    """A 503 for callers: a generic line, a reason code and when to retry; never the cause's details."""
    body = {"error": f"{error}; retry later", "reason": reason, "retry_after_s": RETRY_AFTER_S}
    return JSONResponse(body, 503, headers={"Retry-After": str(RETRY_AFTER_S)})


def _opensearch(_: Request, exc: OpenSearchError) -> JSONResponse:
    log.warning("opensearch unavailable: %s", exc)
    if isinstance(exc, ClusterUnreachable):
        reason = "opensearch_unreachable"
    else:
        reason = "index_missing" if isinstance(exc, IndexMissing) else "opensearch_error"
    return unavailable("search is unavailable", reason)


def _recsearch(_: Request, exc: RecSearchError) -> JSONResponse:
    log.warning("unavailable: %s", exc)
    return unavailable("the service cannot answer this now", "unavailable")


def _component(_: Request, exc: ComponentUnavailable) -> JSONResponse:
    if isinstance(exc.__cause__, OpenSearchError):
        return _opensearch(_, exc.__cause__)
    log.warning("%s", exc)
    return unavailable(f"{exc.name} is unavailable", f"{exc.name}_unavailable")


def _store(_: Request, exc: Exception) -> JSONResponse:
    # SQLite still locked after busy_timeout, PostgreSQL unreachable, no pooled connection in time: transient.
    log.warning("store unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return unavailable("the store is busy or unreachable", "store_unavailable")


def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=getattr(exc, "headers", None))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error")
    return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, 500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping above on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InputError, _input)
    app.add_exception_handler(OpenSearchError, _opensearch)
    app.add_exception_handler(RecSearchError, _recsearch)
    app.add_exception_handler(ComponentUnavailable, _component)
    app.add_exception_handler(OperationalError, _store)
    app.add_exception_handler(PoolTimeout, _store)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
