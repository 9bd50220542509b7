"""The org's display currency and exchange rates: ``GET/PUT /v1/currency``,
``POST /v1/currency/rates`` (a CSV file or a JSON list), ``PUT /v1/currency/rates/{code}``
(one fixed rate from a day on). Reading needs ``read``; every change needs ``admin``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from costobs_server.bounds import FIRST_DAY
from costobs_server.currency import (
    CurrencyError,
    RateFileError,
    RateLine,
    currency,
    parse_day,
    parse_rate,
    parse_rates_csv,
)
from costobs_server.currency._file import COLUMNS
from costobs_server.metadata import currency as stored
from readapi import _display
from readapi._context import AUTH_RESPONSES, Admin, OrgScope, Reader
from readapi.math import ranges

router = APIRouter(tags=["currency"], responses=AUTH_RESPONSES)
MAX_RATES_BODY = 10_000_000
"""A rate file is small (a currency's daily rates for a century is ~1 MB)."""


class StoredRateOut(BaseModel):
    currency: str
    date: str
    rate: str = Field(description="units of the currency per 1 USD from this day on")
    source: str = Field(description="import or fixed")


class CurrencyInfo(BaseModel):
    stored_currency: str = Field(description="always USD: what every cost is stored in")
    display_currency: str
    minor_units: int = Field(description="ISO 4217 digits shown (half-even rounding)")
    today: dict[str, Any] | None = Field(
        description="today's rate in the display currency (null: USD); rate null when none yet"
    )
    rates: list[StoredRateOut] = Field(description="every stored rate, by currency and day")


class ImportResult(BaseModel):
    imported: int


async def _info(org: OrgScope) -> dict[str, Any]:
    db = org.services.db
    code = await run_in_threadpool(stored.display_currency, db, org.org_id)
    rates = await run_in_threadpool(stored.list_rates, db, org.org_id)
    book = await run_in_threadpool(stored.rate_book, db, org.org_id)
    today = None
    if not book.identity:
        today = _display.day_block(book, ranges.today(org.timezone), 1)
        today.pop("cost")
    return {
        "stored_currency": "USD",
        "display_currency": code,
        "minor_units": currency(code).minor_units,
        "today": today,
        "rates": [r.as_json() for r in rates],
    }


@router.get("/v1/currency", response_model=CurrencyInfo)
async def get_currency(org: Reader) -> dict[str, Any]:
    """The org's display currency, today's rate, and every stored rate."""
    return await _info(org)


class CurrencyPut(BaseModel):
    display_currency: str = Field(max_length=8, description="ISO 4217 code, e.g. EUR; USD = none")


@router.put("/v1/currency", response_model=CurrencyInfo)
async def put_currency(org: Admin, body: CurrencyPut, request: Request) -> dict[str, Any]:
    """Set the display currency. Figures appear converted where a rate exists; USD stays."""
    try:
        await run_in_threadpool(
            stored.set_display_currency, org.services.db, org.org_id, body.display_currency
        )
    except CurrencyError as exc:
        raise HTTPException(422, f"'display_currency': {exc}") from None
    _display.books(request).forget(org.org_id)
    return await _info(org)


class RateIn(BaseModel):
    date: str
    currency: str
    rate: str = Field(description="decimal string, units of the currency per 1 USD")


class RatesIn(BaseModel):
    rates: list[RateIn] = Field(min_length=1, max_length=100_000)


def _lines(body: RatesIn) -> list[RateLine]:
    """The JSON list checked like a file: every problem named by its index, nothing partial."""
    header = ",".join(COLUMNS)
    text = "\n".join([header] + [f"{r.date},{r.currency},{r.rate}" for r in body.rates])
    if any("," in f or "\n" in f for r in body.rates for f in (r.date, r.currency, r.rate)):
        raise HTTPException(422, "'rates': a field holds a comma or a line break")
    try:
        return parse_rates_csv(text)
    except RateFileError as exc:
        # line N of the generated file is rates[N - 2]
        problems = [_index(p) for p in exc.problems]
        raise HTTPException(422, {"message": "no rate imported", "problems": problems}) from None


def _index(problem: str) -> str:
    if problem.startswith("line "):
        number, rest = problem[5:].split(":", 1)
        if number.isdigit():
            return f"rates[{int(number) - 2}]:{rest}"
    return problem


@router.post(
    "/v1/currency/rates",
    response_model=ImportResult,
    responses={
        413: {"description": "Body larger than a rate file can be"},
        415: {"description": "Neither text/csv nor application/json"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": RatesIn.model_json_schema()},
            }
        }
    },
)
async def import_rates(org: Admin, request: Request) -> dict[str, Any]:
    """Import dated rates: a CSV body (``text/csv``, header ``date,currency,rate``) or JSON
    ``{"rates": [{"date", "currency", "rate"}]}``. All or nothing: any bad line → 422 listing
    each problem by line (CSV) or index (JSON). A day already rated is replaced."""
    raw = await request.body()
    if len(raw) > MAX_RATES_BODY:
        raise HTTPException(413, f"rate files are limited to {MAX_RATES_BODY} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "text/csv":
        try:
            lines = parse_rates_csv(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise HTTPException(422, "the CSV body is not UTF-8") from None
        except RateFileError as exc:
            raise HTTPException(
                422, {"message": "no rate imported", "problems": exc.problems}
            ) from None
    elif kind == "application/json":
        try:
            body = RatesIn.model_validate_json(raw)
        except ValueError as exc:
            raise HTTPException(422, f"body: {str(exc)[:500]}") from None
        lines = _lines(body)
    else:
        raise HTTPException(415, "send text/csv (date,currency,rate) or application/json")
    count = await run_in_threadpool(stored.import_rates, org.services.db, org.org_id, lines)
    _display.books(request).forget(org.org_id)
    return {"imported": count}


class FixedRate(BaseModel):
    rate: str = Field(max_length=40, description="decimal string, units per 1 USD")
    from_: date | None = Field(
        default=None, alias="from", description="first day (default: 2000-01-01, i.e. always)"
    )


@router.put("/v1/currency/rates/{code}", response_model=CurrencyInfo)
async def put_fixed_rate(
    org: Admin,
    code: Annotated[str, Path(min_length=3, max_length=3)],
    request: Request,
    body: Annotated[FixedRate, Body()],
) -> dict[str, Any]:
    """One fixed rate from ``from`` on: rates dated on or after it are replaced."""
    try:
        first = parse_day(body.from_, "from") if body.from_ else FIRST_DAY
        parse_rate(body.rate)
        await run_in_threadpool(
            stored.set_fixed_rate, org.services.db, org.org_id, code, body.rate, first
        )
    except CurrencyError as exc:
        raise HTTPException(422, str(exc)) from None
    _display.books(request).forget(org.org_id)
    return await _info(org)
