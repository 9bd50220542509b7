"""``GET /v1/reconcile``: tracked vs billed per provider and UTC day (see ``_reconcile`` for
the exact definitions of drift, drift % and untracked spend)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from costobs_server.bounds import SupportedDay
from readapi import _reconcile, _sql, _time
from readapi._context import AUTH_RESPONSES, Reader
from readapi._models import Reconcile
from readapi._money import dec

router = APIRouter(tags=["reconcile"], responses=AUTH_RESPONSES)


@router.get("/v1/reconcile", response_model=Reconcile)
async def reconcile(
    org: Reader,
    from_: Annotated[
        SupportedDay | None,
        Query(alias="from", description="first UTC day (bills are per UTC day)"),
    ] = None,
    to: Annotated[
        SupportedDay | None, Query(description="last UTC day, inclusive; default today")
    ] = None,
) -> dict[str, Any]:
    """Days are UTC whatever the org's time zone: provider bills are per UTC day, so tracked
    spend is summed per UTC day too (from the daily rollup)."""
    last = to or datetime.now(UTC).date()
    first = from_ or last - timedelta(days=29)
    if first > last:
        raise HTTPException(422, "'from' must not be after 'to'")
    if (last - first).days + 1 > _time.MAX_RANGE_DAYS:
        raise HTTPException(422, f"a range covers at most {_time.MAX_RANGE_DAYS} days")
    tracked, billed = await asyncio.gather(
        org.rows(_sql.tracked_by_provider_day(org.org_id, first, last)),
        org.rows(_sql.billed_by_provider_day(org.org_id, first, last)),
    )
    bills = _reconcile.choose_bills((p, d, s, dec(a)) for p, d, s, a in billed)
    body = _reconcile.reconcile(((p, d, int(n), dec(c)) for p, d, n, c in tracked), bills)
    return {"from": first.isoformat(), "to": last.isoformat(), "timezone": "UTC", **body}
