"""``GET /v1/forecast``: month-end and next-30-days projections with fit quality and the date a
monthly budget is projected to run out."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from costobs_server.bounds import SupportedDay
from readapi import _display
from readapi._context import AUTH_RESPONSES, Reader
from readapi._models import Forecast
from readapi._money import ZERO, dec, money
from readapi.math import forecast as forecast_math
from readapi.math import ranges
from readapi.sql import spend as spend_sql

router = APIRouter(tags=["forecast"], responses=AUTH_RESPONSES)


def _usd(value: float) -> str:
    return money(Decimal(f"{value:.6f}"))


def history_from(
    points: list[tuple[date, Decimal, int]], start: date, end: date
) -> list[tuple[date, float]]:
    """Zero-filled daily spend from ``start`` to ``end`` inclusive, but starting no earlier
    than the first day with any event: days before an org existed are not $0 days."""
    first_active = next((d for d, _, n in points if n > 0 and d >= start), None)
    if first_active is None:
        return []
    return [(d, float(c)) for d, c, _ in points if first_active <= d <= end]


def model_json(outlook: forecast_math.Outlook) -> dict[str, Any]:
    f = outlook.fit
    return {
        "name": f.name,
        "r2": f"{f.r2:.4f}",
        "adjusted_r2": f"{f.adjusted_r2:.4f}",
        "mae_usd": _usd(f.mae),
        "next_30_days_usd": _usd(outlook.next_30_days),
        "month_end_usd": _usd(outlook.month_end),
        "budget_run_out_date": outlook.run_out.isoformat() if outlook.run_out else None,
        "daily": [{"date": d.isoformat(), "cost_usd": _usd(v)} for d, v in outlook.daily],
    }


@router.get("/v1/forecast", response_model=Forecast)
async def forecast(
    org: Reader,
    request: Request,
    history_days: Annotated[int, Query(ge=7, le=365, description="days of history to fit")] = 56,
    monthly_budget_usd: Annotated[
        str | None,
        Query(pattern=r"^\d{1,15}(\.\d{1,6})?$", description="monthly budget, decimal string"),
    ] = None,
    as_of: Annotated[
        SupportedDay | None, Query(description="today, in the org's time zone (default: now)")
    ] = None,
) -> dict[str, Any]:
    """Both models are fitted on complete days (through yesterday); today's partial spend
    counts toward the month at whichever is larger, actual so far or predicted."""
    today = as_of or ranges.today(org.timezone)
    month_first = ranges.month_start(today)
    start = today - timedelta(days=history_days)
    try:
        w = ranges.window(min(start, month_first), today, org.timezone)
    except ranges.RangeError as exc:
        raise HTTPException(422, str(exc)) from None
    rows = await org.rows(spend_sql.series(org.org_id, w))
    by_day = {r[0]: (dec(r[-1]), int(r[1])) for r in rows}
    points = [(d, *by_day.get(d, (ZERO, 0))) for d in w.days]
    history = history_from(points, start, today - timedelta(days=1))
    month = [(d, c) for d, c, _ in points if d >= month_first]
    budget = float(monthly_budget_usd) if monthly_budget_usd is not None else None
    outlooks = []
    for name in ("seasonal", "linear"):
        fit = forecast_math.fit(name, history)
        if fit is not None:
            outlooks.append(
                forecast_math.outlook(fit, today, [(d, float(c)) for d, c in month], budget)
            )
    best = forecast_math.recommended([o.fit for o in outlooks])
    chosen = next((o for o in outlooks if best is not None and o.fit is best), None)
    month_end = _usd(chosen.month_end) if chosen else None
    next_30 = _usd(chosen.next_30_days) if chosen else None
    shown = None
    book = await _display.rate_book(request, org)
    if book is not None:
        shown = _display.forecast_block(
            book, today, dict(month), [(d, _usd(v)) for d, v in history], month_end, next_30
        )
    return {
        "as_of": today.isoformat(),
        "timezone": org.timezone,
        "display": shown,
        "history": [{"date": d.isoformat(), "cost_usd": _usd(v)} for d, v in history],
        "month_to_date_usd": money(sum((c for _, c in month), ZERO)),
        "monthly_budget_usd": money(Decimal(monthly_budget_usd)) if monthly_budget_usd else None,
        "models": [model_json(o) for o in outlooks],
        "recommended": best.name if best else None,
        "month_end_usd": month_end,
        "next_30_days_usd": next_30,
        "budget_run_out_date": (chosen.run_out.isoformat() if chosen and chosen.run_out else None),
    }
