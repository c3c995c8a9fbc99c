"""What /readyz answers: what is loaded and what is reachable, checked now, in part states and reason codes.

    status        HTTP  when
    starting      503   the background warm-up (model, item vectors, embedder, ...) has not finished
    unavailable   503   OpenSearch or the live index, or the store, cannot be reached now; or the embedder or the
                        item vectors could not load (searches would fail or be slow)
    degraded      200   all of that is fine, but the model could not load: answers come in retrieval order
                        (``reason: model_unavailable``)
    ready         200   everything loaded and reachable

The body is for unauthenticated callers (orchestrators): part states (``ready``, ``loading``, ``failed``) and
reason codes (``unreachable``, ``index_missing``, ``timeout``, ...), never an error message, URL or path; the
details go to the service's log."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.errors import (
    AuthenticationFailed,
    ClusterUnreachable,
    ComponentUnavailable,
    ConfigError,
    IndexMissing,
    ModelError,
    OpenSearchError,
)
from ranker.service.deadline import ProfileDeadline
from ranker.service.deps import ServiceDeps
from ranker.service.lazy import Lazy

log = logging.getLogger("recsearch.service")

#: Parts that must be loaded (and reachable) for the service to be ready; the model only degrades answers.
REQUIRED = ("opensearch", "profile_store", "embedder", "item_vectors")
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (ProfileDeadline, "timeout"),
    (PoolTimeout, "timeout"),
    (ClusterUnreachable, "unreachable"),
    (AuthenticationFailed, "auth_failed"),
    (IndexMissing, "index_missing"),
    (OpenSearchError, "opensearch_error"),
    (ConfigError, "config_error"),
    (ModelError, "model_error"),
    (DBAPIError, "store_error"),
)


def reason_code(error: BaseException | None) -> str:
    """A short code for why a part is not ready (the error's type, never its message)."""
    while isinstance(error, ComponentUnavailable) and error.__cause__ is not None:
        error = error.__cause__
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return "error"


def _loaded(part: Lazy) -> tuple[str, str | None]:
    if part.state == "ready":
        return "ready", None
    if part.failure is not None:
        return "failed", reason_code(part.failure)
    return "loading", None


def readiness(deps: ServiceDeps) -> tuple[int, dict]:
    """(HTTP status, body) of /readyz; starts the warm-up when nothing started it (an app built without it)."""
    deps.start_warm()
    parts: dict[str, str] = {}
    reasons: dict[str, str] = {}
    body: dict = {"status": "ready", "index": None, "embedding_model": None, "model_version": None}
    try:
        body["index"] = deps.index.get().ping()
        parts["opensearch"] = "ready"
    except Exception as e:  # reachable now or not: the state of the client object says nothing
        log.warning("readyz: opensearch: %s", e)
        parts["opensearch"], reasons["opensearch"] = "failed", reason_code(e)
    try:
        deps.profile_read(lambda store: store.ping())
        parts["profile_store"] = "ready"
    except Exception as e:
        log.warning("readyz: profile store: %s", e)
        parts["profile_store"], reasons["profile_store"] = "failed", reason_code(e)
    for part in (deps.embedder, deps.vectors, deps.ranker, deps.activity):
        parts[part.name], reason = _loaded(part)
        if reason:
            reasons[part.name] = reason
            log.warning("readyz: %s: %s", part.name, part.state)
    # read after the parts: the warm-up may finish the embedder while this runs, and its name is set before it is
    # marked ready, so a "ready" embedder is never shown without its model
    body["embedding_model"] = deps.embedding_model
    if parts["model"] == "ready":
        body["model_version"] = getattr(deps.ranker.get(), "version", None) or None
    if deps.warm_state != "done" and any(parts[p] == "loading" for p in (*REQUIRED, "model")):
        body["status"] = "starting"
    elif any(parts[p] != "ready" for p in REQUIRED):
        body["status"] = "unavailable"
    elif parts["model"] != "ready":
        body["status"] = "degraded"
    body.update(parts=parts, reasons=reasons)
    return (200 if body["status"] in ("ready", "degraded") else 503), body
