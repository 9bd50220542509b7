"""Converted figures beside the USD ones: the org's rate book (cached briefly) and the
``display`` blocks the read API adds. USD figures never change; a block is ``null`` when the
org's display currency is USD.

Every multi-day figure is converted day by day (Σ day cost × that day's rate, exact), which is
why a converted total needs the per-day costs of its range (``per_day``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import Request

from costobs_server.currency import RateBook, Segment, exact_product, exact_sum, rate_text
from costobs_server.metadata import currency as stored
from readapi._context import OrgCache, OrgScope, org_cache
from readapi._money import dec, money
from readapi.math import ranges
from readapi.sql import spend as spend_sql
from readapi.sql.common import Query as SqlQuery

BOOK_TTL_S = 5.0
_COST = spend_sql.SPEND_METRICS.index("cost_usd")


def books(request: Request) -> OrgCache[RateBook]:
    return org_cache(
        request, "rate_book", lambda services, org: stored.rate_book(services.db, org), BOOK_TTL_S
    )


async def rate_book(request: Request, org: OrgScope) -> RateBook | None:
    """The org's rate book, or None when it shows USD (nothing to convert)."""
    book = await books(request).get(org.services, org.org_id)
    return None if book.identity else book


def day_block(book: RateBook, day: date, usd: Any) -> dict[str, Any]:
    found = book.rate_for(day)
    if found is None:
        return {"currency": book.currency.code, "cost": None, "rate": None,
                "rate_date": None, "fallback": False}  # fmt: skip
    return {
        "currency": book.currency.code,
        "cost": money(book.convert(dec(usd), day)),
        "rate": rate_text(found.rate),
        "rate_date": found.rate_date.isoformat(),
        "fallback": found.fallback,
    }


def segment_json(s: Segment) -> dict[str, Any]:
    return {
        "from": s.first.isoformat(),
        "to": s.last.isoformat(),
        "rate": None if s.rate is None else rate_text(s.rate),
        "rate_date": None if s.rate_date is None else s.rate_date.isoformat(),
        "fallback": s.fallback,
    }


def range_block(
    book: RateBook, first: date, last: date, per_day: Mapping[date, Decimal]
) -> dict[str, Any]:
    """``first``..``last`` converted day by day; ``per_day`` holds the days with spend."""
    inside = {d: v for d, v in per_day.items() if first <= d <= last}
    converted = book.convert_days(inside)
    return {
        "currency": book.currency.code,
        "minor_units": book.currency.minor_units,
        "cost": None if converted is None else money(converted),
        "rates": [segment_json(s) for s in book.segments(first, last)],
    }


async def per_day(org: OrgScope, w: ranges.Window) -> dict[date, Decimal]:
    """USD cost per local day of the window (days with spend), from the series query."""
    rows = await org.rows(spend_sql.series(org.org_id, w, None))
    return {row[0]: dec(row[1 + _COST]) for row in rows}


async def window_block(book: RateBook, org: OrgScope, w: ranges.Window) -> dict[str, Any]:
    """The window's total spend, converted day by day."""
    return range_block(book, w.first, w.last, await per_day(org, w))


MAX_SEGMENTS = 92
"""Most rate periods a breakdown converts (one query each): a quarter of daily rates."""

Fetch = Callable[[ranges.Window], Awaitable[tuple[list[tuple[list[str], dict[str, Any]]], Decimal]]]
"""A breakdown over a window: (rows as (keys, metrics with "cost"), the window's total)."""


async def converted_breakdown(
    book: RateBook, org: OrgScope, w: ranges.Window, fetch: Fetch
) -> tuple[dict[tuple[str, ...], Decimal | None], dict[str, Any]]:
    """Each row's cost and the total, converted day by day: the breakdown is read once per run
    of days sharing a rate (``Segment``), and each run's figures converted with its rate.

    Returns (keys → converted cost, None when part of it falls on days without a rate; the
    range block of the total). Over ``MAX_SEGMENTS`` runs, nothing is converted and the block
    says so."""
    segments = book.segments(w.first, w.last)
    block: dict[str, Any] = {
        "currency": book.currency.code,
        "minor_units": book.currency.minor_units,
        "cost": None,
        "rates": [segment_json(s) for s in segments],
        "note": None,
    }
    if len(segments) > MAX_SEGMENTS:
        block["note"] = (
            f"the rate changes {len(segments)} times in the range (at most {MAX_SEGMENTS} "
            "converted): narrow the range to see rows converted"
        )
        return {}, block
    parts = await asyncio.gather(
        *(fetch(org.window(s.first, s.last) if len(segments) > 1 else w) for s in segments)
    )
    rows: dict[tuple[str, ...], list[Decimal] | None] = {}
    total: list[Decimal] | None = []
    for segment, (seg_rows, seg_total) in zip(segments, parts, strict=True):
        for keys, metrics in seg_rows:
            key = tuple(keys)
            acc = rows.setdefault(key, [])
            if acc is None:
                continue
            if segment.rate is None:
                if metrics["cost"] != 0:
                    rows[key] = None
                continue
            acc.append(exact_product(metrics["cost"], segment.rate))
        if total is not None:
            if segment.rate is None:
                total = None if seg_total != 0 else total
            else:
                total.append(exact_product(seg_total, segment.rate))
    if total is not None:
        block["cost"] = money(exact_sum(total))
    return {k: None if v is None else exact_sum(v) for k, v in rows.items()}, block


def forecast_block(
    book: RateBook,
    today: date,
    month: Mapping[date, Decimal],
    history: list[tuple[date, str]],
    month_end_usd: str | None,
    next_30_usd: str | None,
) -> dict[str, Any]:
    """The forecast's figures converted: the month so far day by day; what is projected (days
    without a rate yet) at today's rate."""
    found = book.rate_for(today)
    mtd_usd = exact_sum(month.values())
    mtd = book.convert_days(month)

    def ahead(usd: str | None, base: Decimal | None, base_usd: Decimal) -> str | None:
        if usd is None or found is None or base is None:
            return None
        return money(base + exact_product(dec(usd) - base_usd, found.rate))

    return {
        "currency": book.currency.code,
        "minor_units": book.currency.minor_units,
        "rate": None if found is None else rate_text(found.rate),
        "rate_date": None if found is None else found.rate_date.isoformat(),
        "fallback": bool(found and found.fallback),
        "month_to_date": None if mtd is None else money(mtd),
        "month_end": ahead(month_end_usd, mtd, mtd_usd),
        "next_30_days": ahead(next_30_usd, Decimal(0), Decimal(0)),
        "history": [day_block(book, d, usd) for d, usd in history],
    }


def convert_rows(
    book: RateBook, rows: list[dict[str, Any]], fields: tuple[str, ...]
) -> dict[str, Any]:
    """Add to each row (with a "date") its ``fields`` converted at the rate of its day, as
    ``row["display"]``; return the totals of the converted fields (exact; None when a row
    with a figure has no rate)."""
    totals: dict[str, list[Decimal] | None] = {f: [] for f in fields}
    for row in rows:
        day = date.fromisoformat(row["date"])
        found = book.rate_for(day)
        shown: dict[str, Any] = {
            "currency": book.currency.code,
            "rate": None if found is None else rate_text(found.rate),
            "rate_date": None if found is None else found.rate_date.isoformat(),
            "fallback": bool(found and found.fallback),
        }
        for field in fields:
            usd = row.get(field)
            value = None if usd is None or found is None else exact_product(dec(usd), found.rate)
            shown[field.removesuffix("_usd")] = None if value is None else money(value)
            acc = totals[field]
            if acc is None or usd is None:
                continue
            if value is None:
                totals[field] = None if dec(usd) != 0 else acc
            else:
                acc.append(value)
        row["display"] = shown
    return {
        "currency": book.currency.code,
        "minor_units": book.currency.minor_units,
        **{
            f.removesuffix("_usd"): None if v is None else money(exact_sum(v))
            for f, v in totals.items()
        },
    }


async def converted_rows(
    book: RateBook,
    org: OrgScope,
    w: ranges.Window,
    fetch: Callable[[ranges.Window], Awaitable[list[tuple[tuple[str, ...], Decimal]]]],
) -> tuple[dict[tuple[str, ...], Decimal | None], dict[str, Any]]:
    """Rows keyed by their labels, converted day by day (as ``converted_breakdown``), for
    lists without one total (tag keys, prompts); the block names the rates used."""

    async def as_breakdown(
        x: ranges.Window,
    ) -> tuple[list[tuple[list[str], dict[str, Any]]], Decimal]:
        return [(list(k), {"cost": c}) for k, c in await fetch(x)], Decimal(0)

    converted, block = await converted_breakdown(book, org, w, as_breakdown)
    block.pop("cost")
    return converted, block


def shown(value: Decimal | None) -> str | None:
    return None if value is None else money(value)


async def convert_listed(
    request: Request,
    org: OrgScope,
    w: ranges.Window,
    query: Callable[[ranges.Window], SqlQuery],
    items: list[dict[str, Any]],
    key: str,
) -> dict[str, Any] | None:
    """For a list whose ``query`` rows are ``(key, …, cost)`` (tag keys, prompt keys): each
    item's ``display_cost`` day by day, and the rates used; None when the org shows USD."""
    book = await rate_book(request, org)
    if book is None:
        return None

    async def costs(x: ranges.Window) -> list[tuple[tuple[str, ...], Decimal]]:
        return [((str(r[0]),), dec(r[-1])) for r in await org.rows(query(x))]

    converted, block = await converted_rows(book, org, w, costs)
    for item in items:
        item["display_cost"] = shown(converted.get((item[key],)))
    return block
