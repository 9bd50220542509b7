"""Per-request context: the org from the credential, its time zone, the range, and I/O.

The org is always the credential's: no parameter names an org, so no request can read another
org's data. Read endpoints need the ``read`` scope, key management the ``admin`` scope (which
implies ``read``: ``costobs_server.auth`` holds the scope rules). Every date parameter lies in the
supported range of ``costobs_server.bounds`` (else 422 naming the parameter).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

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


class _Zones:
    """Org → time zone, cached briefly so reads make no metadata round trip each time."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, str]] = {}

    async def get(self, services: Services, org_id: str) -> str:
        hit = self._entries.get(org_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        tz = await run_in_threadpool(services.db.org_timezone, org_id)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[org_id] = (now + TIMEZONE_TTL_S, tz)
        return tz

    def forget(self, org_id: str) -> None:
        self._entries.pop(org_id, None)


def zones(request: Request) -> _Zones:
    found: _Zones | None = getattr(request.app.state, "readapi_zones", None)
    if found is None:
        found = _Zones()
        request.app.state.readapi_zones = found
    return found


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
