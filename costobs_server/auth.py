"""API-key authentication with a short-lived cache, so revocation takes effect within
``COSTOBS_KEY_CACHE_SECONDS`` while the hot path makes no database round trip; and the one
place scopes are checked.

Scopes: ``ingest`` sends events; ``read`` reads spend, requests and alert configuration;
``admin`` manages keys, the org, alert rules and targets, imports bills and backfills — and
implies ``read`` and ``ingest``: an admin key can mint keys of every scope anyway, so refusing
it a read or a send protects nothing and only surprises. ``read`` and ``ingest`` imply nothing.

Endpoints check the scope in a dependency (``Depends(needs(scope))``) so that it runs before
FastAPI validates parameters or bodies: a key without the scope gets 403 whatever it sent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from costobs_server.metadata.db import KeyInfo, MetadataDB, hash_secret

AUTH_RESPONSES: dict[str, dict[str, str]] = {
    "401": {"description": "Missing, unknown or revoked API key"},
    "403": {"description": "The key lacks the scope this endpoint needs"},
}
"""The answers every authenticated endpoint documents in OpenAPI."""

IMPLIED_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin", "read", "ingest"}),
    "read": frozenset({"read"}),
    "ingest": frozenset({"ingest"}),
}


def has_scope(key: KeyInfo, scope: str) -> bool:
    """Whether ``key`` may act with ``scope``, directly or through a scope that implies it."""
    return any(scope in IMPLIED_SCOPES.get(held, frozenset()) for held in key.scopes)


@dataclass
class KeyCache:
    db: MetadataDB
    ttl: float
    _entries: dict[str, tuple[float, KeyInfo | None]] = field(default_factory=dict)

    async def lookup(self, secret: str) -> KeyInfo | None:
        digest = hash_secret(secret)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = await run_in_threadpool(self.db.lookup, secret)
        if len(self._entries) > 10_000:  # bounded: random bad keys cannot grow it forever
            self._entries.clear()
        self._entries[digest] = (now + self.ttl, info)
        return info


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return secret.strip()


async def require_key(request: Request, scope: str) -> KeyInfo:
    cache: KeyCache = request.app.state.keys
    info = await cache.lookup(bearer(request))
    if info is None:
        raise HTTPException(
            401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    if not has_scope(info, scope):
        raise HTTPException(403, f"this API key lacks the '{scope}' scope")
    return info


def needs(scope: str) -> Callable[[Request], Awaitable[KeyInfo]]:
    """A FastAPI dependency: the request's key, holding ``scope`` (401/403 otherwise)."""

    async def key_with_scope(request: Request) -> KeyInfo:
        return await require_key(request, scope)

    return key_with_scope
