"""``GET /v1/usage/summary``'s cost in the display currency: its days are UTC days of the daily
rollup, each converted at its own rate (``_display.range_block``), summed exactly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import Request

from costobs_server.metadata.db import KeyInfo
from readapi import _display
from readapi._context import OrgScope
from readapi._money import dec
from readapi.sql import reconcile as reconcile_sql


async def usage_display(
    request: Request, key: KeyInfo, first: date, last: date
) -> dict[str, Any] | None:
    """The range block of UTC days ``first``..``last``; None when the org shows USD."""
    # the rate book is per org, whatever its time zone: these days are UTC days
    org = OrgScope(key, "UTC", request.app.state.services)
    book = await _display.rate_book(request, org)
    if book is None:
        return None
    per_day: dict[date, Decimal] = {}
    rows = await org.rows(reconcile_sql.tracked_by_provider_day(org.org_id, first, last))
    for _provider, day, _requests, cost in rows:
        per_day[day] = per_day.get(day, Decimal(0)) + dec(cost)
    return _display.range_block(book, first, last, per_day)
