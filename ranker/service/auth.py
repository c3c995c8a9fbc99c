"""API keys with two scopes: ``read`` (search, recommend, similar, rerank) and ``write`` (events, user deletion).

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A write key may also read. With no
keys configured the service is open (it listens on 127.0.0.1 by default)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import HTTPException, Request

from core.settings import ServiceSettings

Scope = Literal["read", "write"]


def _keys(secret) -> list[bytes]:
    if secret is None:
        return []
    return [k.strip().encode() for k in secret.get_secret_value().split(",") if k.strip()]


class ApiKeys:
    """The configured keys and the scopes they grant."""

    def __init__(self, settings: ServiceSettings):
        self.read = _keys(settings.read_api_keys)
        self.write = _keys(settings.write_api_keys)

    @property
    def enabled(self) -> bool:
        return bool(self.read or self.write)

    @staticmethod
    def _match(key: bytes, keys: list[bytes]) -> bool:
        # Compare against every key in constant time, so timing tells nothing about which one nearly matched.
        found = False
        for k in keys:
            found |= hmac.compare_digest(key, k)
        return found

    def scopes(self, key: str | None) -> set[str]:
        """The scopes ``key`` grants (empty for an unknown or missing key)."""
        if not key:
            return set()
        raw = key.encode()
        if self._match(raw, self.write):
            return {"read", "write"}
        if self._match(raw, self.read):
            return {"read"}
        return set()


def key_from(request: Request) -> str | None:
    """The API key of a request, from ``Authorization: Bearer`` or ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("x-api-key")


def require(scope: Scope) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency refusing requests without a key of ``scope`` (401 no/unknown key, 403 wrong scope)."""

    async def check(request: Request) -> None:  # async: no thread hand-off for a dict lookup
        keys: ApiKeys = request.app.state.api_keys
        if not keys.enabled:
            return
        granted = keys.scopes(key_from(request))
        if not granted:
            raise HTTPException(
                401,
                "missing or unknown API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope not in granted:
            raise HTTPException(403, f"this API key lacks the '{scope}' scope")

    return check
