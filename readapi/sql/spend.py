"""Per-day spend: hourly and quarter-hour rollups, raw events only off the quarter-hour grid
(``readapi.sql`` says which table answers what). Totals, daily series, unpriced models, and
the first-run activity. Pure: each function returns a query."""

from __future__ import annotations

from typing import Literal

from readapi.math.ranges import Window
from readapi.sql.common import (
    DIMENSIONS,
    ORG,
    TS,
    Params,
    Query,
    aliased,
    in_spans,
    outer_sums,
    union_all,
    window_params,
)

SPEND_METRICS = (
    "requests",
    "error_requests",
    "unpriced_requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
)
_ROLLUP_SPEND = tuple(f"sum({m})" for m in SPEND_METRICS)
_EVENT_SPEND = (
    "count()",
    "countIf(status != 'ok')",
    "countIf(unpriced)",
    "sum(input_tokens)",
    "sum(cached_input_tokens)",
    "sum(cache_write_5m_tokens + cache_write_1h_tokens + cache_write_30m_tokens"
    " + cache_write_12h_tokens)",
    "sum(output_tokens)",
    "sum(reasoning_tokens)",
    "sum(cost_usd)",
)


def _hour_raw(w: Window, p: Params) -> str | None:
    """Raw events for what no rollup can place: the parts of the range's partial hours, and the
    hours holding a local midnight, that are off the quarter-hour grid (historical local mean
    times; an IN set, far cheaper for ClickHouse than one OR'ed range per day)."""
    parts = []
    if w.raw_edges:
        parts.append(in_spans(p, w.raw_edges))
    if w.raw_hours:
        a, b = p.add("w", w.start_naive), p.add("w", w.end_naive)
        hs = p.add("hs", list(w.raw_hours))
        parts.append(
            f"(timestamp >= {{{a}:{TS}}} AND timestamp < {{{b}:{TS}}} "
            f"AND toStartOfHour(timestamp) IN {{{hs}:Array(DateTime('UTC'))}})"
        )
    return "(" + " OR ".join(parts) + ")" if parts else None


def _quarters(w: Window, p: Params) -> str | None:
    """``quarter`` (of cost_model_quarter) within the straddled hours on the quarter-hour grid
    and the quarter hours of the range's partial hours, or None when there are none."""
    parts = []
    for x, y in w.quarter_edges:
        a, b = p.add("q", x), p.add("q", y)
        parts.append(f"(quarter >= {{{a}:DateTime('UTC')}} AND quarter < {{{b}:DateTime('UTC')}})")
    if w.quarter_hours:
        a, b = p.add("q", w.quarter_hours[0]), p.add("q", w.quarter_hours[-1])
        hs = p.add("qh", list(w.quarter_hours))
        parts.append(
            f"(quarter >= {{{a}:DateTime('UTC')}} AND quarter < {{{b}:DateTime('UTC')}} + 3600 "
            f"AND toStartOfHour(quarter) IN {{{hs}:Array(DateTime('UTC'))}})"
        )
    return "(" + " OR ".join(parts) + ")" if parts else None


def _hourly(w: Window, p: Params) -> str | None:
    """``hour`` (of cost_model_hourly) within the whole hours but not the straddled ones."""
    if w.whole_hours is None:
        return None
    h0, h1 = p.add("h", w.whole_hours[0]), p.add("h", w.whole_hours[1])
    where = f"hour >= {{{h0}:DateTime('UTC')}} AND hour < {{{h1}:DateTime('UTC')}}"
    if w.straddled_hours:
        hs = p.add("hs", list(w.straddled_hours))
        where += f" AND hour NOT IN {{{hs}:Array(DateTime('UTC'))}}"
    return where


# --- per-day spend: hourly and quarter-hour rollups (+ raw events off the grid) ------------


def _spend_parts(w: Window, p: Params, day: bool, group: str | None) -> str:
    """Inner SELECTs yielding ``([k0 = local day,] [k1 = group,] m0..m8)`` over exactly the
    window: each source's time column is placed in its local day."""
    sources = (
        ("cost_model_hourly", "hour", _hourly(w, p), _ROLLUP_SPEND),
        ("cost_model_quarter", "quarter", _quarters(w, p), _ROLLUP_SPEND),
        ("events", "timestamp", _hour_raw(w, p), _EVENT_SPEND),
    )
    parts = []
    for table, column, where, metrics in sources:
        if where is None:
            continue
        keys = ((f"toDate({column}, {{tz:String}})",) if day else ()) + ((group,) if group else ())
        key_sql = aliased(keys, "k") + ", " if keys else ""
        by = f" GROUP BY {', '.join(f'k{i}' for i in range(len(keys)))}" if keys else ""
        parts.append(
            f"SELECT {key_sql}{aliased(metrics, 'm')} FROM {table} WHERE {ORG} AND {where}{by}"
        )
    return union_all(parts)


def totals(org: str, w: Window) -> Query:
    """One row: ``SPEND_METRICS`` in order."""
    p = window_params(org, w)
    inner = _spend_parts(w, p, day=False, group=None)
    return Query(f"SELECT {outer_sums(len(SPEND_METRICS), 'm')} FROM ({inner})", p)


SeriesGroup = Literal["provider", "model"]


def series(org: str, w: Window, group: SeriesGroup | None = None) -> Query:
    """Rows ``(local day, [group value,] *SPEND_METRICS)`` for days with data; the caller
    zero-fills the rest."""
    p = window_params(org, w)
    inner = _spend_parts(w, p, day=True, group=DIMENSIONS[group] if group else None)
    keys = (0, 1) if group else (0,)
    names = ", ".join(f"k{i}" for i in keys)
    return Query(
        f"SELECT {names}, {outer_sums(len(SPEND_METRICS), 'm')} FROM ({inner}) "
        f"GROUP BY {names} ORDER BY {names}",
        p,
    )


def unpriced(org: str, w: Window) -> Query:
    """Rows ``(provider, model, unpriced requests, first seen hour, last seen hour)``, UTC."""
    p = window_params(org, w)
    parts = []
    for table, column, where in (
        ("cost_model_hourly", "hour", _hourly(w, p)),
        ("cost_model_quarter", "quarter", _quarters(w, p)),
    ):
        if where is not None:
            parts.append(
                "SELECT provider, model, sum(unpriced_requests) AS n, "
                f"toStartOfHour(minIf({column}, unpriced_requests > 0)) AS f, "
                f"toStartOfHour(maxIf({column}, unpriced_requests > 0)) AS l "
                f"FROM {table} WHERE {ORG} AND {where} GROUP BY provider, model HAVING n > 0"
            )
    raw = _hour_raw(w, p)
    if raw:
        parts.append(
            "SELECT provider, model, count() AS n, "
            "toDateTime(toStartOfHour(min(timestamp)), 'UTC') AS f, "
            "toDateTime(toStartOfHour(max(timestamp)), 'UTC') AS l "
            f"FROM events WHERE {ORG} AND {raw} AND unpriced GROUP BY provider, model"
        )
    return Query(
        f"SELECT provider, model, sum(n) AS total, min(f), max(l) FROM ({union_all(parts)}) "
        "GROUP BY provider, model ORDER BY total DESC, provider, model",
        p,
    )


def activity(org: str) -> Query:
    """One row: (events ever, first UTC day, last UTC day) — for the first-run screen."""
    return Query(
        "SELECT sum(requests), min(day), max(day) FROM cost_daily WHERE org_id = {org:String}",
        {"org": org},
    )
