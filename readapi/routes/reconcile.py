"""``GET /v1/reconcile``: tracked vs billed per provider and UTC day (see ``_reconcile`` for
the exact definitions of drift, drift % and untracked spend)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from billing.line_items import item_model
from costobs_server.bounds import SupportedDay
from readapi import _canonical, _display
from readapi._context import AUTH_RESPONSES, OrgScope, Reader
from readapi._display_drift import model_drift_display
from readapi._models import ModelDrift, Reconcile
from readapi._money import dec
from readapi.math import drift, ranges
from readapi.math import reconcile as reconcile_math
from readapi.sql import reconcile as reconcile_sql

router = APIRouter(tags=["reconcile"], responses=AUTH_RESPONSES)


UtcFrom = Annotated[
    SupportedDay | None,
    Query(alias="from", description="first UTC day (bills are per UTC day)"),
]
UtcTo = Annotated[SupportedDay | None, Query(description="last UTC day, inclusive; default today")]


def _days(from_: date | None, to: date | None) -> tuple[date, date]:
    last = to or datetime.now(UTC).date()
    first = from_ or last - timedelta(days=29)
    if first > last:
        raise HTTPException(422, "'from' must not be after 'to'")
    if (last - first).days + 1 > ranges.MAX_RANGE_DAYS:
        raise HTTPException(422, f"a range covers at most {ranges.MAX_RANGE_DAYS} days")
    return first, last


@router.get("/v1/reconcile/models", response_model=ModelDrift)
async def reconcile_models(
    org: Reader, request: Request, from_: UtcFrom = None, to: UtcTo = None
) -> dict[str, Any]:
    """Drift explained per provider, UTC day and model (the bill's line items, see
    ``readapi.math.drift``): untracked models, and the override that would close a stable drift.
    With a display currency each row also shows at its UTC day's rate."""
    first, last = _days(from_, to)
    body = await model_drift(org, first, last)
    book = await _display.rate_book(request, org)
    if book is not None:
        body["display"] = model_drift_display(book, first, last, body)
    return {"from": first.isoformat(), "to": last.isoformat(), **body}


async def model_drift(org: OrgScope, first: date, last: date) -> dict[str, Any]:
    tracked, items = await asyncio.gather(
        org.rows(reconcile_sql.tracked_by_provider_day_model(org.org_id, first, last)),
        org.rows(reconcile_sql.billed_items(org.org_id, first, last)),
    )
    chosen = reconcile_math.choose_bills((p, d, s, dec(a)) for p, d, s, _, a in items)
    canonical = _canonical.namer(org.services, org.org_id)

    def model_of(provider: str, item: str) -> str | None:
        model = item_model(item)
        return None if model is None else canonical(provider, model)

    billed = [
        (p, d, model_of(p, str(item)), dec(a))
        for p, d, s, item, a in items
        if chosen[(p, d)].source == s
    ]
    by_cell = drift.cells(
        ((p, d, canonical(p, m), int(n), dec(c)) for p, d, m, n, c in tracked), billed
    )
    return drift.explain(org.org_id, by_cell)


@router.get("/v1/reconcile", response_model=Reconcile)
async def reconcile(
    org: Reader,
    request: Request,
    from_: UtcFrom = None,
    to: UtcTo = None,
) -> dict[str, Any]:
    """Days are UTC whatever the org's time zone: provider bills are per UTC day, so tracked
    spend is summed per UTC day too (from the daily rollup)."""
    first, last = _days(from_, to)
    tracked, billed = await asyncio.gather(
        org.rows(reconcile_sql.tracked_by_provider_day(org.org_id, first, last)),
        org.rows(reconcile_sql.billed_by_provider_day(org.org_id, first, last)),
    )
    bills = reconcile_math.choose_bills((p, d, s, dec(a)) for p, d, s, a in billed)
    body = reconcile_math.reconcile(((p, d, int(n), dec(c)) for p, d, n, c in tracked), bills)
    book = await _display.rate_book(request, org)
    if book is not None:  # each UTC day at its rate
        body["display"] = _display.convert_rows(book, body["rows"], RECONCILE_MONEY)
    return {"from": first.isoformat(), "to": last.isoformat(), "timezone": "UTC", **body}


RECONCILE_MONEY = ("tracked_usd", "billed_usd", "drift_usd", "untracked_usd")
