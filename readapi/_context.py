"""Per-request context: the org from the credential, its time zone, the range, and I/O.

The org is always the credential's: no parameter names an org, so no request can read another
org's data. Read endpoints need the ``read`` scope, key management the ``admin`` scope (which
implies ``read``: ``costobs_server.auth`` holds the scope rules). Every date parameter lies in the
supported range of ``costobs_server.bounds`` (else 422 naming the parameter).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from costobs_server.auth import require_key
from costobs_server.bounds import SupportedDay
from costobs_server.metadata.db import KeyInfo
from costobs_server.runtime import Services
from readapi.math import ranges
from readapi.sql.common import Query as SqlQuery

TIMEZONE_TTL_S = 5.0
DEFAULT_RANGE_DAYS = 30
T = TypeVar("T")


class OrgCache(Generic[T]):
    """Org → a value loaded from the metadata DB, trusted for ``ttl`` seconds, so reads make
    no metadata round trip each time (the org's time zone, its exchange rates)."""

    def __init__(self, load: Callable[[Services, str], T], ttl: float) -> None:
        self._load = load
        self._ttl = ttl
        self._entries: dict[str, tuple[float, T]] = {}

    async def get(self, services: Services, org_id: str) -> T:
        hit = self._entries.get(org_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await run_in_threadpool(self._load, services, org_id)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[org_id] = (now + self._ttl, value)
        return value

    def forget(self, org_id: str) -> None:
        self._entries.pop(org_id, None)


def org_cache(
    request: Request, name: str, load: Callable[[Services, str], T], ttl: float
) -> OrgCache[T]:
    """The app's cache called ``name`` (made on first use)."""
    caches: dict[str, Any] | None = getattr(request.app.state, "readapi_org_caches", None)
    if caches is None:
        caches = request.app.state.readapi_org_caches = {}
    found: OrgCache[T] | None = caches.get(name)
    if found is None:
        found = caches[name] = OrgCache(load, ttl)
    return found


def zones(request: Request) -> OrgCache[str]:
    return org_cache(request, "timezone", lambda s, org: s.db.org_timezone(org), TIMEZONE_TTL_S)


@dataclass(frozen=True)
class OrgScope:
    key: KeyInfo
    timezone: str
    services: Services

    @property
    def org_id(self) -> str:
        return self.key.org_id

    async def rows(self, query: SqlQuery) -> list[tuple[Any, ...]]:
        return await run_in_threadpool(self.services.store.query, query.sql, query.params)

    def window(self, first: date | None, last: date | None) -> ranges.Window:
        """The requested local-day range; by default the last 30 days through today."""
        try:
            last = last or ranges.today(self.timezone)
            first = first or last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
            return ranges.window(first, last, self.timezone)
        except ranges.RangeError as exc:
            raise HTTPException(422, str(exc)) from None


async def _scope(request: Request, scope: str) -> OrgScope:
    key = await require_key(request, scope)
    services: Services = request.app.state.services
    tz = await zones(request).get(services, key.org_id)
    return OrgScope(key, tz, services)


async def reader(request: Request) -> OrgScope:
    return await _scope(request, "read")


async def admin(request: Request) -> OrgScope:
    return await _scope(request, "admin")


Reader = Annotated[OrgScope, Depends(reader)]
Admin = Annotated[OrgScope, Depends(admin)]
_FROM_HELP = "first local day (org time zone), YYYY-MM-DD; default: 29 days before `to`"
From = Annotated[SupportedDay | None, Query(alias="from", description=_FROM_HELP)]
To = Annotated[
    SupportedDay | None,
    Query(description="last local day, inclusive, YYYY-MM-DD; default: today"),
]

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked API key"},
    403: {"description": "The key lacks the scope this endpoint needs"},
    422: {"description": "Invalid parameter; the detail names it"},
}


def range_info(w: ranges.Window) -> dict[str, Any]:
    return {
        "from": w.first.isoformat(),
        "to": w.last.isoformat(),
        "timezone": w.timezone,
        "source": w.grain,
    }
