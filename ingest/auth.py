"""API-key authentication with a short-lived cache, so revocation takes effect within
``COSTOBS_KEY_CACHE_SECONDS`` while the hot path makes no database round trip."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from costobs_server.metadata.db import KeyInfo, MetadataDB, hash_secret


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
    if scope not in info.scopes:
        raise HTTPException(403, f"this API key lacks the '{scope}' scope")
    return info
