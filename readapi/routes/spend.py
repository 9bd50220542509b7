"""Spend endpoints: summary with period and month-over-month changes, daily series,
breakdowns by dimension or tag, tag keys, unpriced models."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from costobs_server.vocabulary import TAG_KEY, TAG_KEY_HELP
from readapi import _canonical, _display
from readapi._context import AUTH_RESPONSES, From, OrgScope, Reader, To, range_info
from readapi._models import Breakdown, Series, Summary, TagKeys, Unpriced
from readapi._money import ZERO, change, dec, money, percent, ratio
from readapi.math import ranges, remainders, statuses
from readapi.math.remainders import Metrics, Rows
from readapi.sql import breakdowns, pair_state
from readapi.sql import spend as spend_sql
from readapi.sql.common import DIMENSIONS, Level

router = APIRouter(tags=["spend"], responses=AUTH_RESPONSES)

LEVEL_RE = re.compile(rf"^(?:(?P<dim>{'|'.join(DIMENSIONS)})|tag:(?P<tag>{TAG_KEY}))$")
LEVEL_HELP = f"one of {', '.join(DIMENSIONS)}, or tag:<key> (key: {TAG_KEY_HELP})"
MAX_SERIES_GROUPS = 12


def parse_level(value: str, name: str) -> Level:
    match = LEVEL_RE.match(value)
    if match is None:
        raise HTTPException(422, f"'{name}': {value[:80]!r} is not {LEVEL_HELP}")
    if match["dim"]:
        return Level("dimension", match["dim"])
    return Level("tag", match["tag"])


def spend(row: tuple[Any, ...]) -> dict[str, Any]:
    values = dict(zip(spend_sql.SPEND_METRICS, row, strict=True))
    counts = {k: int(v or 0) for k, v in values.items() if k != "cost_usd"}
    cost = dec(values["cost_usd"])
    return {
        **counts,
        "total_tokens": counts["input_tokens"]
        + counts["cached_input_tokens"]
        + counts["cache_write_tokens"]
        + counts["output_tokens"],
        "cost_usd": money(cost),
        "cost_per_request_usd": ratio(cost, counts["requests"]),
    }


def changes(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, str | None]:
    return {
        k: change(dec(current[k] or 0), dec(previous[k] or 0))
        for k in ("cost_usd", "requests", "total_tokens", "cost_per_request_usd")
    }


async def _totals(org: OrgScope, w: ranges.Window) -> dict[str, Any]:
    return spend((await org.rows(spend_sql.totals(org.org_id, w)))[0])


@router.get("/v1/summary", response_model=Summary)
async def summary(
    org: Reader, request: Request, from_: From = None, to: To = None
) -> dict[str, Any]:
    """Totals for the range, the change against the same number of days just before, and
    month-over-month: month to date (as of `to`) against the same days of the previous month."""
    w = org.window(from_, to)
    prev = ranges.previous_window(w)
    mtd = org.window(ranges.month_start(w.last), w.last)
    last_month = org.window(*ranges.same_days_last_month(w.last))
    current, before, mtd_totals, last_month_totals = await asyncio.gather(
        *(_totals(org, x) for x in (w, prev, mtd, last_month))
    )
    by_status = await org.rows(breakdowns.breakdown(org.org_id, w, (STATUS_LEVEL,), 100))
    failed = {
        str(r[0]): remainders.metrics(r[1:]) for r in by_status if str(r[0]) in statuses.FAILED
    }
    failed_total = statuses.total(failed.values())
    shown: list[dict[str, Any] | None] = [None] * 4
    book = await _display.rate_book(request, org)
    if book is not None:
        shown = list(
            await asyncio.gather(
                *(_display.window_block(book, org, x) for x in (w, prev, mtd, last_month))
            )
        )
    return {
        "range": range_info(w),
        "totals": current,
        "display": shown[0],
        "failed": {
            "requests": failed_total["requests"],
            "cost_usd": money(failed_total["cost"]),
            "share_pct": percent(failed_total["cost"], dec(current["cost_usd"])),
            "by_status": {s: money(m["cost"]) for s, m in sorted(failed.items())},
        },
        "previous_period": {
            "range": range_info(prev),
            "totals": before,
            "change_pct": changes(current, before),
            "display": shown[1],
        },
        "month_over_month": {
            "current": {"range": range_info(mtd), "totals": mtd_totals, "display": shown[2]},
            "previous": {
                "range": range_info(last_month),
                "totals": last_month_totals,
                "display": shown[3],
            },
            "change_pct": changes(mtd_totals, last_month_totals),
        },
    }


def zero_filled(
    days: list[date], rows: list[tuple[Any, ...]], grouped: bool
) -> tuple[list[str], list[dict[str, Any]]]:
    """One point per day (a day without rows is zero); with groups, the top groups by cost
    and the rest folded into '(other)'."""
    index = dict(zip(spend_sql.SPEND_METRICS, range(len(spend_sql.SPEND_METRICS)), strict=True))
    offset = 2 if grouped else 1
    per_day: dict[date, list[Any]] = {}
    by_group: dict[str, Decimal] = defaultdict(Decimal)
    group_day: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        day = row[0]
        metrics = row[offset:]
        acc = per_day.setdefault(day, [0, 0, 0, ZERO])
        acc[0] += int(metrics[index["requests"]])
        acc[1] += int(metrics[index["input_tokens"]])
        acc[2] += int(metrics[index["output_tokens"]])
        acc[3] += dec(metrics[index["cost_usd"]])
        if grouped:
            by_group[row[1]] += dec(metrics[index["cost_usd"]])
            group_day[(day, row[1])] += dec(metrics[index["cost_usd"]])
    ranked = sorted(by_group, key=lambda g: (-by_group[g], g))
    shown = ranked if len(ranked) <= MAX_SERIES_GROUPS else ranked[: MAX_SERIES_GROUPS - 1]
    groups = shown + (["(other)"] if len(shown) < len(ranked) else [])
    points = []
    for day in days:
        requests, input_tokens, output_tokens, cost = per_day.get(day, [0, 0, 0, ZERO])
        point: dict[str, Any] = {
            "date": day.isoformat(),
            "requests": requests,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": money(cost),
            "groups": {},
        }
        if grouped:
            values = {g: group_day.get((day, g), ZERO) for g in shown}
            if len(shown) < len(ranked):
                values["(other)"] = sum(
                    (group_day.get((day, g), ZERO) for g in ranked[len(shown) :]), ZERO
                )
            point["groups"] = {g: money(v) for g, v in values.items()}
        points.append(point)
    return groups, points


@router.get("/v1/series", response_model=Series)
async def series(
    org: Reader,
    request: Request,
    from_: From = None,
    to: To = None,
    group_by: Annotated[
        Literal["provider", "model"] | None, Query(description="split each day's cost")
    ] = None,
) -> dict[str, Any]:
    """Daily spend in the org's time zone, one point per day of the range (zero-filled)."""
    w = org.window(from_, to)
    rows = await org.rows(spend_sql.series(org.org_id, w, group_by))
    groups, points = zero_filled(w.days, rows, group_by is not None)
    book = await _display.rate_book(request, org)
    total = None
    if book is not None:
        for point in points:
            day = date.fromisoformat(point["date"])
            point["display"] = _display.day_block(book, day, point["cost_usd"])
            if group_by is not None:
                point["display_groups"] = {
                    g: _display.day_block(book, day, v)["cost"] for g, v in point["groups"].items()
                }
        costs = {date.fromisoformat(p["date"]): dec(p["cost_usd"]) for p in points}
        total = _display.range_block(book, w.first, w.last, costs)
    return {
        "range": range_info(w),
        "group_by": group_by,
        "groups": groups,
        "points": points,
        "display": total,
    }


MAX_DIMENSION_VALUES = 100_000
"""Bound on one dimension's values when deriving untagged remainders (low-cardinality
dimensions only: the tag × dimension rollup has no customer or user)."""


async def breakdown_rows(
    org: OrgScope, w: ranges.Window, levels: tuple[Level, ...], limit: int
) -> tuple[Rows, Metrics, bool]:
    """(rows most expensive first, at most ``limit``; the range's totals; truncated)."""
    plan = breakdowns.plan(levels)
    done = None
    if plan.pair is not None:
        done = pair_state.pair_done(w, await org.rows(pair_state.pair_state(org.org_id, w)))
    rest = plan.rest
    every_row = isinstance(rest, breakdowns.WithoutATag)
    queries = [
        breakdowns.breakdown(
            org.org_id, w, levels, MAX_DIMENSION_VALUES if every_row else limit + 1, done
        ),
        spend_sql.totals(org.org_id, w),
    ]
    if isinstance(rest, breakdowns.WithoutATag):
        queries += [
            breakdowns.breakdown(org.org_id, w, (lv,), MAX_DIMENSION_VALUES)
            for lv in (rest.first, rest.second)
        ]
    elif isinstance(rest, breakdowns.Untagged):
        other = rest.other.name if rest.other else None
        queries.append(breakdowns.tagged(org.org_id, w, rest.tag, other, done))
        if rest.other is not None:
            queries.append(breakdowns.breakdown(org.org_id, w, (rest.other,), MAX_DIMENSION_VALUES))
    results = await asyncio.gather(*(org.rows(q) for q in queries))
    width = len(levels)
    rows = [([str(k) for k in r[:width]], remainders.metrics(r[width:])) for r in results[0]]
    spend_totals = spend(results[1][0])
    totals = {
        "requests": spend_totals["requests"],
        "input_tokens": spend_totals["input_tokens"],
        "output_tokens": spend_totals["output_tokens"],
        "cost": dec(spend_totals["cost_usd"]),
    }
    truncated = len(rows) > limit
    if isinstance(rest, breakdowns.WithoutATag):
        rows += remainders.without_a_tag(rows, results[2], results[3], totals)
    elif isinstance(rest, breakdowns.Untagged) and rest.other is None:
        rows += remainders.untagged(totals, results[2][0])
    elif isinstance(rest, breakdowns.Untagged):
        rows += remainders.untagged_by_value(results[2], results[3], rest.tag_first)
    if rest is not None:
        rows.sort(key=lambda r: (-r[1]["cost"], r[0]))
    return rows[:limit], totals, truncated or len(rows) > limit


STATUS_LEVEL = Level("dimension", "status")
StatusFilter = Literal["ok", "failed", "error", "timeout", "cancelled"]
_STATUS_HELP = (
    "only calls with this status: ok, failed (error, timeout or cancelled: billed by the "
    "provider for what it did, answered nothing usable), error, timeout or cancelled"
)


async def _filtered_by_status(
    org: OrgScope, w: ranges.Window, level: Level, status: StatusFilter, limit: int
) -> tuple[Rows, Metrics, bool]:
    """One level, only the calls of a status: the level × status breakdown, kept and summed."""
    rows, _, truncated = await breakdown_rows(org, w, (level, STATUS_LEVEL), MAX_DIMENSION_VALUES)
    wanted = statuses.matching(status)
    merged = statuses.sum_rows(([keys[0]], m) for keys, m in rows if keys[1] in wanted)
    totals = statuses.total(m for _, m in merged)
    return merged[:limit], totals, truncated or len(merged) > limit


async def _by_canonical_model(
    org: OrgScope, w: ranges.Window, limit: int
) -> tuple[Rows, Metrics, bool]:
    """The model across clouds: provider × model rows, each mapped through the price table
    the writer prices with (the org's aliases included), summed per canonical model."""
    levels = (Level("dimension", "provider"), Level("dimension", "model"))
    rows, totals, truncated = await breakdown_rows(org, w, levels, MAX_DIMENSION_VALUES)
    canonical = _canonical.namer(org.services, org.org_id)
    merged = statuses.sum_rows(([canonical(p, m)], metrics) for (p, m), metrics in rows)
    return merged[:limit], totals, truncated or len(merged) > limit


@router.get("/v1/breakdown", response_model=Breakdown)
async def breakdown(
    org: Reader,
    request: Request,
    by: Annotated[str, Query(max_length=80, description=f"first level: {LEVEL_HELP}")],
    from_: From = None,
    to: To = None,
    then: Annotated[
        str | None, Query(max_length=80, description="optional second level, same choices")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="most rows returned")] = 100,
    status: Annotated[StatusFilter | None, Query(description=_STATUS_HELP)] = None,
) -> dict[str, Any]:
    """Cost by any first-class dimension or tag key, optionally split by a second level. Rows
    are most expensive first; '' is "not set" (for a tag: events without that tag).
    ``by=canonical_model`` groups one model across clouds and gateways (one level only)."""
    w = org.window(from_, to)
    if by == _canonical.LEVEL or then == _canonical.LEVEL:
        if then is not None or status is not None:
            raise HTTPException(
                422, "'canonical_model' is a level of its own: no 'then', no 'status'"
            )
        labels = [_canonical.LEVEL]

        async def fetch(x: ranges.Window, n: int) -> tuple[Rows, dict[str, Any], bool]:
            return await _by_canonical_model(org, x, n)
    else:
        levels = (parse_level(by, "by"),) + ((parse_level(then, "then"),) if then else ())
        if len(levels) == 2 and levels[0] == levels[1]:
            raise HTTPException(422, "'then' must differ from 'by'")
        labels = [lv.label for lv in levels]
        if status is not None and (len(levels) == 2 or levels[0] == STATUS_LEVEL):
            raise HTTPException(422, "'status' filters a single level other than status")

        async def fetch(x: ranges.Window, n: int) -> tuple[Rows, dict[str, Any], bool]:
            if status is None:
                return await breakdown_rows(org, x, levels, n)
            return await _filtered_by_status(org, x, levels[0], status, n)

    rows, totals, truncated = await fetch(w, limit)
    converted: dict[tuple[str, ...], Decimal | None] = {}
    shown = None
    book = await _display.rate_book(request, org)
    if book is not None:

        async def every_row(x: ranges.Window) -> tuple[Rows, Decimal]:
            found, sums, _ = await fetch(x, MAX_DIMENSION_VALUES)
            return found, sums["cost"]

        converted, shown = await _display.converted_breakdown(book, org, w, every_row)
    out = [
        {
            "keys": keys,
            "requests": m["requests"],
            "input_tokens": m["input_tokens"],
            "output_tokens": m["output_tokens"],
            "cost_usd": money(m["cost"]),
            "cost_per_request_usd": ratio(m["cost"], m["requests"]),
            "share_pct": percent(m["cost"], totals["cost"]),
            **({"display_cost": _display.shown(converted.get(tuple(keys)))} if book else {}),
        }
        for keys, m in rows
    ]
    return {
        "range": range_info(w),
        "levels": labels,
        "rows": out,
        "truncated": truncated,
        "status": status,
        "totals": {
            "requests": totals["requests"],
            "input_tokens": totals["input_tokens"],
            "output_tokens": totals["output_tokens"],
            "cost_usd": money(totals["cost"]),
        },
        "display": shown,
    }


@router.get("/v1/tags", response_model=TagKeys)
async def tags(org: Reader, request: Request, from_: From = None, to: To = None) -> dict[str, Any]:
    """Tag keys seen in the range, with how many values and how much spend carries them."""
    w = org.window(from_, to)
    rows = await org.rows(breakdowns.tag_keys(org.org_id, w))
    out = [
        {"key": k, "values": int(v), "requests": int(n), "cost_usd": money(c)}
        for k, v, n, c in rows
    ]
    block = await _display.convert_listed(
        request, org, w, lambda x: breakdowns.tag_keys(org.org_id, x), out, "key"
    )
    return {"range": range_info(w), "tags": out, "display": block}


def _when(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    return value.isoformat()


@router.get("/v1/unpriced", response_model=Unpriced)
async def unpriced(org: Reader, from_: From = None, to: To = None) -> dict[str, Any]:
    """Models the price table does not know: their events are kept at $0 until a rate exists.
    first_seen/last_seen are UTC (a day, an hour, or an instant, by the table that answered)."""
    w = org.window(from_, to)
    rows = await org.rows(spend_sql.unpriced(org.org_id, w))
    return {
        "range": range_info(w),
        "models": [
            {
                "provider": p,
                "model": m,
                "requests": int(n),
                "first_seen": _when(first),
                "last_seen": _when(last),
            }
            for p, m, n, first, last in rows
        ],
    }
