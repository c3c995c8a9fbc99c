"""API keys with three scopes, the gate that checks them before a body is read, and the bind check of `serve`.

    read      search, recommend, similar, rerank: results, never what reveals a user's history
    personal  read, plus what reveals a user's history: explanations naming history items, include_purchased=true,
              the storefront's list of active users
    write     personal, plus events, user export and deletion
    events    read, plus posting the shop's view/click/add_to_cart/purchase events that carry an answer's query_id
              (the key a public storefront page may hold: it reads no history and deletes nothing)

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. With no keys configured the service is
open (every scope; it listens on 127.0.0.1 by default, and `recadmin serve` refuses a public bind without keys
unless told ``--insecure``)."""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import ConfigError
from core.settings import ServiceSettings

Scope_ = Literal["read", "personal", "write", "events"]
ALL_SCOPES = frozenset({"read", "personal", "write", "events"})

#: Operational pages that need a read key when RECSEARCH_SERVICE_PROTECT_METRICS_AND_DOCS is on.
OPS_PATHS = ("/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")

_UNAUTHORIZED = "missing or unknown API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def _keys(secret) -> list[bytes]:
    if secret is None:
        return []
    return [k.strip().encode() for k in secret.get_secret_value().split(",") if k.strip()]


class ApiKeys:
    """The configured keys and the scopes they grant."""

    def __init__(self, settings: ServiceSettings):
        self.read = _keys(settings.read_api_keys)
        self.personal = _keys(settings.personal_api_keys)
        self.write = _keys(settings.write_api_keys)
        self.events = _keys(settings.event_api_keys)

    @property
    def enabled(self) -> bool:
        return bool(self.read or self.personal or self.write or self.events)

    def describe(self) -> str:
        """One line for the start-up log: whether auth is on and how many keys of each scope."""
        if not self.enabled:
            return "auth: off (no API keys configured: every route is open)"
        line = f"auth: on ({len(self.read)} read, {len(self.personal)} personal, {len(self.write)} write keys"
        return line + (f", {len(self.events)} events)" if self.events else ")")

    @staticmethod
    def _match(key: bytes, keys: list[bytes]) -> bool:
        # Compare against every key in constant time, so timing tells nothing about which one nearly matched.
        found = False
        for k in keys:
            found |= hmac.compare_digest(key, k)
        return found

    def scopes(self, key: str | None) -> frozenset[str]:
        """The scopes ``key`` grants (empty for an unknown or missing key; all of them when auth is off)."""
        if not self.enabled:
            return ALL_SCOPES
        if not key:
            return frozenset()
        raw = key.encode()
        if self._match(raw, self.write):
            return ALL_SCOPES
        if self._match(raw, self.personal):
            return frozenset({"read", "personal"})
        if self._match(raw, self.events):
            return frozenset({"read", "events"})
        if self._match(raw, self.read):
            return frozenset({"read"})
        return frozenset()


def key_from(headers) -> str | None:
    """The API key of a request, from ``Authorization: Bearer`` or ``X-API-Key``."""
    header = headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return headers.get("x-api-key")


def granted(request: Request) -> frozenset[str]:
    """The scopes the request's key grants."""
    keys: ApiKeys = request.app.state.api_keys
    return keys.scopes(key_from(request.headers))


def may_see_history(request: Request) -> bool:
    """Whether the caller may see what reveals a user's history (the personal scope)."""
    return "personal" in granted(request)


def require(scope: Scope_, *or_: Scope_) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency refusing requests without a key of ``scope`` (or one of ``or_``): 401 no/unknown key,
    403 wrong scope."""

    async def check(request: Request) -> None:  # async: no thread hand-off for a dict lookup
        have = granted(request)
        if not have:
            raise HTTPException(401, _UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
        if scope not in have and not have.intersection(or_):
            raise HTTPException(403, f"this API key lacks the '{scope}' scope")

    return check


class AuthGate:
    """Refuses requests to protected paths without a known key (401) before anything reads their body, so an
    unauthenticated client cannot make the service parse up to RECSEARCH_SERVICE_MAX_REQUEST_BYTES of JSON.
    Protected: every ``/v1/`` path (all need at least the read scope), and :data:`OPS_PATHS` when
    ``protect_ops``. The routes' :func:`require` still checks the scope (403)."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, protect_ops: bool = False):
        self.app = app
        self.keys = keys
        self.protect_ops = protect_ops

    def _protected(self, path: str) -> bool:
        return path.startswith("/v1/") or (self.protect_ops and path in OPS_PATHS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys.enabled or not self._protected(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.keys.scopes(key_from(headers)):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": _UNAUTHORIZED}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


#: Host header names of this machine (an IPv6 literal comes in brackets, as clients send it).
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")


def _host_name(host: str) -> str:
    """A bind host or configured name as it appears in a Host header: IPv6 literals bracketed."""
    bare = host.strip().strip("[]")
    try:
        return f"[{bare}]" if ipaddress.ip_address(bare).version == 6 else bare
    except ValueError:
        return host.strip().lower()


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or name) only listens on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def check_bind(host: str, keys: ApiKeys, insecure: bool) -> None:
    """Refuse to serve an open service (no API keys) on an interface other machines reach, unless ``insecure``."""
    if keys.enabled or insecure or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to listen on {host} without API keys: anyone who reaches it could read and delete user data; "
        "set RECSEARCH_SERVICE_READ_API_KEYS / _PERSONAL_API_KEYS / _WRITE_API_KEYS, or pass --insecure"
    )


def allowed_hosts(settings: ServiceSettings) -> list[str]:
    """The Host header names the service answers: RECSEARCH_SERVICE_ALLOWED_HOSTS, else the local names and the
    bind host (a wildcard bind such as 0.0.0.0 is no name a client sends)."""
    if settings.allowed_hosts is not None:
        names = [_host_name(h) for h in settings.allowed_hosts.split(",") if h.strip()]
        if not names:
            raise ConfigError("bad RECSEARCH_SERVICE_ALLOWED_HOSTS: set but empty (unset it, or use * for any host)")
        for name in names:
            if "*" in name[1:] or (name.startswith("*") and name != "*" and not name.startswith("*.")):
                raise ConfigError(f"bad RECSEARCH_SERVICE_ALLOWED_HOSTS: '{name}' (wildcards look like *.example.com)")
        return names
    names = list(LOCAL_NAMES)
    bind = _host_name(settings.host)
    if bind not in names and bind not in ("0.0.0.0", "[::]", ""):
        names.append(bind)
    return names
