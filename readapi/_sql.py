"""Query building for the read API. Pure: each function returns SQL and its parameters.

Values are never spliced into SQL: they travel as ClickHouse parameters (``{name:Type}``)
bound by the server. The only identifiers interpolated are column and table names taken from
the fixed tables below, never from a request.

How a range of local days is read, exactly, for any org time zone (``readapi.math.ranges.Window``):

* **Per-day figures** (totals, series, unpriced, forecast): ``cost_model_hourly`` for the whole
  UTC hours of the range, grouped by ``toDate(hour, tz)``; ``cost_model_quarter`` (15 minutes)
  for the hours that hold a local midnight in :30/:45 zones and the partial hours at the
  range's ends; raw events only for what lies off the quarter-hour grid (no zone today).
* **Range totals by dimension or tag** (breakdowns, tag keys, prompts): hourly rollups for
  every whole UTC hour of the range; daily rollups for whole UTC days (and a half-month one
  for whole UTC half-months), plus raw events for the partial days at the ends. Where every
  metric is a sum (breakdowns), a day or half-month mostly inside the range is read whole and
  the rest subtracted (``readapi.math.cover``): at most 12 raw hours and 8 daily days per end.

Which rollup answers a breakdown:

=============================================  =============================================
levels                                         rollup (+ raw events for the range's edges)
=============================================  =============================================
one dimension                                  cost_dim_daily (one row per dimension value)
two dimensions, neither customer nor user      cost_attr_daily
customer or user × provider or model          cost_dim_model_half for the UTC half-months
                                               wholly or mostly inside, cost_dim_model_daily
                                               for the other days (and those subtracted)
customer or user × another dimension,          cost_pair_half / cost_pair_daily for the UTC
tag × customer/user, tag × tag                 half-months and days the compactor has
                                               completed (``pair_done``), raw events for the
                                               other days (``readapi.math.cover.pair_cover``)
one tag                                        cost_tag_hourly
tag × dimension (not customer/user)            cost_tag_attr_daily
=============================================  =============================================

A tag rollup holds only events that carry the tag (a tag pair: both tags); the caller adds
the rest (``''``) from the totals, so every breakdown has the same meaning whichever table
answered.
Rollups are SummingMergeTree/AggregatingMergeTree: always ``sum()`` and ``GROUP BY``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from costobs_server.store import pairs
from costobs_server.store.columns import EVENT_COLUMNS
from costobs_server.store.pairs import Done, half_end, half_start
from readapi.math.cover import DaySpan, cover, pair_cover
from readapi.math.ranges import Span, Window

# --- what may be grouped by -------------------------------------------------------------

DIMENSIONS: dict[str, str] = (
    {"provider": "provider", "model": "model"} | pairs.HIGH | pairs.ATTRIBUTES
)
"""Public dimension name → column (in events and the attribution rollups)."""

HIGH_CARDINALITY = frozenset(pairs.HIGH)
"""Dimensions the daily cross-dimension rollups leave out (they would be one row per event)."""
BY_MODEL = HIGH_CARDINALITY
"""Dimensions ``cost_dim_model_daily`` crosses with provider and model."""


@dataclass(frozen=True)
class Level:
    """One grouping level: a first-class dimension or a tag key."""

    kind: Literal["dimension", "tag"]
    name: str
    """Public dimension name, or the tag key."""

    @property
    def label(self) -> str:
        return f"tag:{self.name}" if self.kind == "tag" else self.name


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


# --- building blocks ----------------------------------------------------------------------

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

BREAKDOWN_METRICS = ("requests", "input_tokens", "output_tokens", "cost_usd")
# Per row, Int64 and Decimal in every source: the pieces of a range are signed rows summed
# once by the outer query (``_range_parts`` with ``subtract``)
_ROLLUP_BREAKDOWN = (
    "toInt64(requests)",
    "toInt64(input_tokens)",
    "toInt64(output_tokens)",
    "cost_usd",
)
_EVENT_BREAKDOWN = (
    "toInt64(1)",
    "toInt64(input_tokens)",
    "toInt64(output_tokens)",
    "cost_usd",
)

_ORG = "org_id = {org:String}"
_DAYS = "day >= {d0:Date} AND day <= {d1:Date}"
_INSTANTS = "timestamp >= {t0:DateTime64(3, 'UTC')} AND timestamp < {t1:DateTime64(3, 'UTC')}"
_TS = "DateTime64(3, 'UTC')"


class _Params(dict[str, Any]):
    """Parameters with fresh names for repeated values (spans)."""

    def add(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self)}"
        self[name] = value
        return name


def _params(org: str, w: Window) -> _Params:
    return _Params(org=org, tz=w.timezone)


def _spans(p: _Params, spans: tuple[Span, ...]) -> str:
    """``timestamp`` within any of the spans (each an index-friendly range)."""
    parts = []
    for a, b in spans:
        na, nb = p.add("sa", a), p.add("sb", b)
        parts.append(f"(timestamp >= {{{na}:{_TS}}} AND timestamp < {{{nb}:{_TS}}})")
    return "(" + " OR ".join(parts) + ")"


def _hour_raw(w: Window, p: _Params) -> str | None:
    """Raw events for what no rollup can place: the parts of the range's partial hours, and the
    hours holding a local midnight, that are off the quarter-hour grid (historical local mean
    times; an IN set, far cheaper for ClickHouse than one OR'ed range per day)."""
    parts = []
    if w.raw_edges:
        parts.append(_spans(p, w.raw_edges))
    if w.raw_hours:
        a, b = p.add("w", w.start_naive), p.add("w", w.end_naive)
        hs = p.add("hs", list(w.raw_hours))
        parts.append(
            f"(timestamp >= {{{a}:{_TS}}} AND timestamp < {{{b}:{_TS}}} "
            f"AND toStartOfHour(timestamp) IN {{{hs}:Array(DateTime('UTC'))}})"
        )
    return "(" + " OR ".join(parts) + ")" if parts else None


def _quarters(w: Window, p: _Params) -> str | None:
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


def _hourly(w: Window, p: _Params) -> str | None:
    """``hour`` (of cost_model_hourly) within the whole hours but not the straddled ones."""
    if w.whole_hours is None:
        return None
    h0, h1 = p.add("h", w.whole_hours[0]), p.add("h", w.whole_hours[1])
    where = f"hour >= {{{h0}:DateTime('UTC')}} AND hour < {{{h1}:DateTime('UTC')}}"
    if w.straddled_hours:
        hs = p.add("hs", list(w.straddled_hours))
        where += f" AND hour NOT IN {{{hs}:Array(DateTime('UTC'))}}"
    return where


def _aliased(exprs: tuple[str, ...], prefix: str) -> str:
    return ", ".join(f"{e} AS {prefix}{i}" for i, e in enumerate(exprs))


def _outer_sums(count: int, prefix: str) -> str:
    return ", ".join(f"sum({prefix}{i})" for i in range(count))


def _union(parts: list[str]) -> str:
    return " UNION ALL ".join(parts)


# --- per-day spend: hourly and quarter-hour rollups (+ raw events off the grid) ------------


def _spend_parts(w: Window, p: _Params, day: bool, group: str | None) -> str:
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
        key_sql = _aliased(keys, "k") + ", " if keys else ""
        by = f" GROUP BY {', '.join(f'k{i}' for i in range(len(keys)))}" if keys else ""
        parts.append(
            f"SELECT {key_sql}{_aliased(metrics, 'm')} FROM {table} WHERE {_ORG} AND {where}{by}"
        )
    return _union(parts)


def totals(org: str, w: Window) -> Query:
    """One row: ``SPEND_METRICS`` in order."""
    p = _params(org, w)
    inner = _spend_parts(w, p, day=False, group=None)
    return Query(f"SELECT {_outer_sums(len(SPEND_METRICS), 'm')} FROM ({inner})", p)


SeriesGroup = Literal["provider", "model"]


def series(org: str, w: Window, group: SeriesGroup | None = None) -> Query:
    """Rows ``(local day, [group value,] *SPEND_METRICS)`` for days with data; the caller
    zero-fills the rest."""
    p = _params(org, w)
    inner = _spend_parts(w, p, day=True, group=DIMENSIONS[group] if group else None)
    keys = (0, 1) if group else (0,)
    names = ", ".join(f"k{i}" for i in keys)
    return Query(
        f"SELECT {names}, {_outer_sums(len(SPEND_METRICS), 'm')} FROM ({inner}) "
        f"GROUP BY {names} ORDER BY {names}",
        p,
    )


def unpriced(org: str, w: Window) -> Query:
    """Rows ``(provider, model, unpriced requests, first seen hour, last seen hour)``, UTC."""
    p = _params(org, w)
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
                f"FROM {table} WHERE {_ORG} AND {where} GROUP BY provider, model HAVING n > 0"
            )
    raw = _hour_raw(w, p)
    if raw:
        parts.append(
            "SELECT provider, model, count() AS n, "
            "toDateTime(toStartOfHour(min(timestamp)), 'UTC') AS f, "
            "toDateTime(toStartOfHour(max(timestamp)), 'UTC') AS l "
            f"FROM events WHERE {_ORG} AND {raw} AND unpriced GROUP BY provider, model"
        )
    return Query(
        f"SELECT provider, model, sum(n) AS total, min(f), max(l) FROM ({_union(parts)}) "
        "GROUP BY provider, model ORDER BY total DESC, provider, model",
        p,
    )


def activity(org: str) -> Query:
    """One row: (events ever, first UTC day, last UTC day) — for the first-run screen."""
    return Query(
        "SELECT sum(requests), min(day), max(day) FROM cost_daily WHERE org_id = {org:String}",
        {"org": org},
    )


# --- range totals: daily rollups for whole UTC days + raw events at the edges -------------


@dataclass(frozen=True)
class _Rollup:
    table: str
    keys: tuple[str, ...]
    where: str
    """Extra conditions (tag key, dimension), already parameterised."""
    by_hour: bool = False
    """The table is keyed by ``hour`` rather than ``day``."""
    halves: str | None = None
    """A twin of the (daily) table keyed by ``half`` (first day of a UTC half-month): it
    answers the half-months wholly or mostly inside the range, the daily table the days
    around them (``readapi.math.cover``)."""


def _piece(
    table: str,
    keys: tuple[str, ...],
    metrics: tuple[str, ...],
    when: str,
    sign: int = 1,
    group: bool = False,
) -> str:
    """One inner SELECT ``(k0.., m0..)`` of the org's rows of ``table`` matching ``when``,
    negated when ``sign`` < 0, grouped by the keys when ``group``."""
    signed = metrics if sign > 0 else tuple(f"-{m}" for m in metrics)
    grouped = " GROUP BY " + ", ".join(f"k{i}" for i in range(len(keys))) if group else ""
    return (
        f"SELECT {_aliased(keys, 'k')}, {_aliased(signed, 'm')} FROM {table} "
        f"WHERE {_ORG} AND {when}{grouped}"
    )


def _days_in(p: _Params, spans: Iterable[DaySpan]) -> str:
    """``day`` within any of the (inclusive) spans."""
    ors = []
    for x, y in spans:
        a, b = p.add("m", x), p.add("m", y)
        ors.append(f"(day >= {{{a}:Date}} AND day <= {{{b}:Date}})")
    return ors[0] if len(ors) == 1 else "(" + " OR ".join(ors) + ")"


def _range_parts(
    w: Window,
    p: _Params,
    rollup: _Rollup | None,
    rollup_metrics: tuple[str, ...],
    raw_keys: tuple[str, ...],
    raw_where: str,
    raw_metrics: tuple[str, ...],
    raw_from: str = "events",
    subtract: bool = False,
) -> str:
    """Inner SELECTs yielding ``(k0.., m0..)`` over exactly the window: the rollup for what
    it holds whole and raw events for the rest (or raw events for all of it).

    ``subtract``: the metrics are per-row values, typed alike in both lists (Int64 or
    Decimal), that the caller sums: the parts yield rows, not groups (one aggregation instead
    of one per part and another over them), and a piece may overshoot the window and the
    overshoot come back negated (``readapi.math.cover``). The caller then drops groups whose
    request count (``m0``) nets to zero."""
    parts = []

    def add(
        table: str, keys: tuple[str, ...], metrics: tuple[str, ...], when: str, sign: int
    ) -> None:
        parts.append(_piece(table, keys, metrics, when, sign, group=not subtract))

    def raw(spans: tuple[Span, ...], sign: int) -> None:
        if spans:
            add(raw_from, raw_keys, raw_metrics, _spans(p, spans) + raw_where, sign)

    def days(spans: tuple[DaySpan, ...], sign: int) -> None:
        if spans and rollup is not None:
            add(rollup.table, rollup.keys, rollup_metrics, _days_in(p, spans) + rollup.where, sign)

    if rollup is None:
        raw(((w.start_naive, w.end_naive),), 1)
    elif rollup.by_hour:
        # hourly rollup: every whole UTC hour from it, raw events only for partial hours
        if w.whole_hours is not None:
            a, b = p.add("m", w.whole_hours[0]), p.add("m", w.whole_hours[1])
            when = f"hour >= {{{a}:DateTime('UTC')}} AND hour < {{{b}:DateTime('UTC')}}"
            add(rollup.table, rollup.keys, rollup_metrics, when + rollup.where, 1)
        raw(w.hour_edges, 1)
    else:
        c = cover(w, halves=rollup.halves is not None, subtract=subtract)
        if c.halves is not None and rollup.halves is not None:
            a, b = p.add("hm", c.halves[0]), p.add("hm", c.halves[1])
            when = f"half >= {{{a}:Date}} AND half < {{{b}:Date}}"
            add(rollup.halves, rollup.keys, rollup_metrics, when + rollup.where, 1)
        days(c.days, 1)
        days(c.days_removed, -1)
        raw(c.raw, 1)
        raw(c.raw_removed, -1)
    return _union(parts)


def _breakdown_plan(
    levels: tuple[Level, ...], p: _Params
) -> tuple[_Rollup | None, tuple[str, ...], str]:
    """(rollup or None for raw only, raw key expressions, extra raw conditions)."""
    raw_keys = []
    raw_where = ""
    tag_names = {}
    for i, lv in enumerate(levels):
        if lv.kind == "tag":
            name = p.add("tag", lv.name)
            tag_names[i] = name
            raw_keys.append(f"tags[{{{name}:String}}]")
        else:
            raw_keys.append(DIMENSIONS[lv.name])
    tags = [lv for lv in levels if lv.kind == "tag"]
    dims = [lv for lv in levels if lv.kind == "dimension"]
    names = {lv.name for lv in dims}
    high = bool(names & HIGH_CARDINALITY)
    rollup: _Rollup | None = None
    if not tags and len(levels) == 1:
        name = p.add("dim", levels[0].name)
        rollup = _Rollup("cost_dim_daily", ("value",), f" AND dimension = {{{name}:String}}")
    elif not tags and not high:
        rollup = _Rollup("cost_attr_daily", tuple(DIMENSIONS[lv.name] for lv in levels), "")
    elif not tags and len(names & BY_MODEL) == 1 and names & {"provider", "model"}:
        (party,) = (lv.name for lv in dims if lv.name in BY_MODEL)
        name = p.add("dim", party)
        keys = tuple("value" if lv.name == party else DIMENSIONS[lv.name] for lv in levels)
        rollup = _Rollup(
            "cost_dim_model_daily",
            keys,
            f" AND dimension = {{{name}:String}}",
            halves="cost_dim_model_half",
        )
    elif not tags:
        pass  # a pair rollup's (``pair_levels``) when its state is known, else raw events
    elif len(tags) == 1 and (not dims or not high):
        ((i, name),) = tag_names.items()
        keys = tuple("tag_value" if lv.kind == "tag" else DIMENSIONS[lv.name] for lv in levels)
        table = "cost_tag_hourly" if len(levels) == 1 else "cost_tag_attr_daily"
        rollup = _Rollup(table, keys, f" AND tag_key = {{{name}:String}}", by_hour=not dims)
        raw_where = f" AND mapContains(tags, {{{name}:String}})"
    else:
        # tag × customer/user, two tags: only the events with every tag (the pair rollups hold
        # no others; the caller adds the rest)
        raw_where = "".join(f" AND mapContains(tags, {{{n}:String}})" for n in tag_names.values())
    return rollup, tuple(raw_keys), raw_where


def pair_levels(levels: tuple[Level, ...]) -> tuple[str, str] | None:
    """The pair rollup that answers this two-level breakdown, or None."""
    if len(levels) != 2:
        return None
    return pairs.pair_of(levels[0].label, levels[1].label)


def uses_tag_rollup(levels: tuple[Level, ...]) -> bool:
    """Whether ``breakdown`` leaves out untagged events (the caller adds them back)."""
    return _breakdown_plan(levels, _Params())[2] != ""


def pair_state(org: str, w: Window) -> Query:
    """Rows ``(grain, UTC day, events)`` for ``pair_done``: events per day (grain 'count')
    and the compactor's records, over the half-months around the window."""
    first, last = _pair_span(w)
    return Query(
        "SELECT 'count', day, toInt64(sum(requests)) FROM cost_daily WHERE org_id = {org:String} "
        "AND day >= {p0:Date} AND day <= {p1:Date} GROUP BY day "
        "UNION ALL SELECT toString(grain), start, argMax(requests, written_at) "
        "FROM cost_pair_done WHERE org_id = {org:String} AND start >= {p0:Date} "
        "AND start <= {p1:Date} GROUP BY grain, start",
        {"org": org, "p0": first, "p1": last},
    )


def _pair_span(w: Window) -> tuple[date, date]:
    last = (w.end_naive - timedelta(microseconds=1)).date()
    return half_start(w.start_naive.date()), half_end(last)


def pair_done(w: Window, rows: list[tuple[Any, ...]]) -> Done:
    """Which days and half-months of the pair rollups are complete, from ``pair_state``."""
    counts = {d: int(n) for g, d, n in rows if g == "count"}
    done = {(g, d): int(n) for g, d, n in rows if g != "count"}
    return pairs.done_units(counts, done, *_pair_span(w))


def _pair_parts(
    w: Window,
    p: _Params,
    pair: tuple[str, str],
    keys: tuple[str, ...],
    done: Done,
    raw_keys: tuple[str, ...],
    raw_where: str,
) -> str:
    """Signed rows ``(k.., m0..m3)`` over exactly the window from the pair rollups (``keys``
    name ``a_value``/``b_value``): complete half-months and days from them, everything else
    from raw events."""
    c = pair_cover(cover(w, halves=True, subtract=True), done)
    na, nb = p.add("pa", pair[0]), p.add("pb", pair[1])
    which = f" AND a = {{{na}:String}} AND b = {{{nb}:String}}"
    parts = []
    if c.halves:
        hs = p.add("hs", list(c.halves))
        when = f"half IN {{{hs}:Array(Date)}}" + which
        parts.append(_piece("cost_pair_half", keys, _ROLLUP_BREAKDOWN, when))
    for sign, raw in ((1, c.raw), (-1, c.raw_removed)):
        days = [span for span, s in c.days if s == sign]
        if days:
            when = _days_in(p, days) + which
            parts.append(_piece("cost_pair_daily", keys, _ROLLUP_BREAKDOWN, when, sign))
        # days not done, read whole from raw events with the range's raw edges
        other = tuple(_utc_span(span) for span, s in c.fallback if s == sign) + raw
        if other:
            when = _spans(p, other) + raw_where
            parts.append(_piece("events", raw_keys, _EVENT_BREAKDOWN, when, sign))
    return _union(parts)


def _utc_span(days: DaySpan) -> Span:
    """The instants of UTC days ``[a, b]``."""
    a, b = days
    return datetime.combine(a, time()), datetime.combine(b + timedelta(days=1), time())


def breakdown(
    org: str, w: Window, levels: tuple[Level, ...], limit: int, done: Done | None = None
) -> Query:
    """Rows ``(k0, [k1,] *BREAKDOWN_METRICS)``, most expensive first, at most ``limit``.
    '' is "not set"; see ``uses_tag_rollup`` for untagged events. ``done``: the pair rollups'
    state (``pair_done``), for the breakdowns they answer (``pair_levels``)."""
    p = _params(org, w)
    rollup, raw_keys, raw_where = _breakdown_plan(levels, p)
    pair = pair_levels(levels)
    if pair is not None and done is not None:
        labels = [lv.label for lv in levels]
        columns = tuple("a_value" if label == pair[0] else "b_value" for label in labels)
        inner = _pair_parts(w, p, pair, columns, done, raw_keys, raw_where)
    else:
        inner = _range_parts(
            w, p, rollup, _ROLLUP_BREAKDOWN, raw_keys, raw_where, _EVENT_BREAKDOWN, subtract=True
        )
    keys = ", ".join(f"k{i}" for i in range(len(levels)))
    n = p.add("limit", limit)
    return Query(
        f"SELECT {keys}, sum(m0) AS requests, sum(m1), sum(m2), sum(m3) AS cost FROM ({inner}) "
        f"GROUP BY {keys} HAVING requests != 0 ORDER BY cost DESC, {keys} LIMIT {{{n}:UInt32}}",
        p,
    )


def tagged(
    org: str, w: Window, tag_key: str, dimension: str | None, done: Done | None = None
) -> Query:
    """``BREAKDOWN_METRICS`` of the events carrying ``tag_key``: one row, or one per value of
    ``dimension`` as ``(value, *metrics)`` (customer/user from the pair rollups when ``done``
    is given, else from raw events)."""
    p = _params(org, w)
    name = p.add("tag", tag_key)
    cond = f" AND tag_key = {{{name}:String}}"
    has_tag = f" AND mapContains(tags, {{{name}:String}})"
    rollup: _Rollup | None
    if dimension is None:
        rollup = _Rollup("cost_tag_hourly", ("tag_key",), cond, by_hour=True)
        raw_keys: tuple[str, ...] = (f"{{{name}:String}}",)
    elif dimension in HIGH_CARDINALITY:
        rollup = None
        raw_keys = (DIMENSIONS[dimension],)
    else:
        column = DIMENSIONS[dimension]
        rollup = _Rollup("cost_tag_attr_daily", (column,), cond)
        raw_keys = (column,)
    if dimension in HIGH_CARDINALITY and done is not None:
        pair = (f"tag:{tag_key}", dimension)
        inner = _pair_parts(w, p, pair, ("b_value",), done, raw_keys, has_tag)
    else:
        inner = _range_parts(
            w, p, rollup, _ROLLUP_BREAKDOWN, raw_keys, has_tag, _EVENT_BREAKDOWN, subtract=True
        )
    if dimension is None:
        return Query(f"SELECT {_outer_sums(4, 'm')} FROM ({inner})", p)
    return Query(
        f"SELECT k0, {_outer_sums(4, 'm')} FROM ({inner}) GROUP BY k0 HAVING sum(m0) != 0", p
    )


def tag_keys(org: str, w: Window, limit: int = 500) -> Query:
    """Rows ``(tag key, distinct values, requests, cost)`` for the tag picker."""
    p = _params(org, w)
    inner = _range_parts(
        w,
        p,
        _Rollup("cost_tag_hourly", ("tag_key", "tag_value"), "", by_hour=True),
        ("sum(requests)", "sum(cost_usd)"),
        ("t.1", "t.2"),
        "",
        ("count()", "sum(cost_usd)"),
        raw_from="events ARRAY JOIN arrayZip(mapKeys(tags), mapValues(tags)) AS t",
    )
    n = p.add("limit", limit)
    return Query(
        f"SELECT k0, uniqExact(k1), sum(m0), sum(m1) FROM ({inner}) GROUP BY k0 ORDER BY k0 "
        f"LIMIT {{{n}:UInt32}}",
        p,
    )


# --- raw requests -------------------------------------------------------------------------

LIST_COLUMNS = (
    "request_id",
    "timestamp",
    "provider",
    "model",
    "operation",
    "feature",
    "customer_id",
    "user_id",
    "trace_id",
    "team",
    "service",
    "environment",
    "prompt_key",
    "prompt_version",
    "tags",
    "status",
    "error_type",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "latency_ms",
    "cost_usd",
    "unpriced",
)
DETAIL_COLUMNS = tuple(c for c in EVENT_COLUMNS if c != "org_id")

REQUEST_FILTERS: dict[str, str] = {
    "provider": "provider",
    "model": "model",
    "status": "status",
    "feature": "feature",
    "customer_id": "customer_id",
    "user_id": "user_id",
    "trace_id": "trace_id",
    "team": "team",
    "service": "service",
    "environment": "environment",
    "prompt_key": "prompt_key",
    "prompt_version": "prompt_version",
}
"""Query parameter → column, for exact-match filters on raw requests."""


@dataclass(frozen=True)
class TagFilter:
    key: str
    value: str | None
    """None: the event only has to carry the key."""


@dataclass(frozen=True)
class Cursor:
    timestamp: datetime
    """Naive UTC, millisecond precision."""
    request_id: str


def requests(
    org: str,
    w: Window,
    filters: dict[str, str],
    tags: tuple[TagFilter, ...],
    unpriced_only: bool,
    after: Cursor | None,
    limit: int,
) -> Query:
    """Newest first; ``after`` continues strictly below the last row of the previous page
    (keyset on the sort key, so pages stay stable while new events arrive)."""
    params: dict[str, Any] = {"org": org, "t0": w.start_naive, "t1": w.end_naive}
    where = [_ORG, _INSTANTS]
    for name, value in sorted(filters.items()):
        where.append(f"{REQUEST_FILTERS[name]} = {{f_{name}:String}}")
        params[f"f_{name}"] = value
    for i, tag in enumerate(tags):
        params[f"tk{i}"] = tag.key
        if tag.value is None:
            where.append(f"mapContains(tags, {{tk{i}:String}})")
        else:
            where.append(f"tags[{{tk{i}:String}}] = {{tv{i}:String}}")
            params[f"tv{i}"] = tag.value
    if unpriced_only:
        where.append("unpriced")
    if after is not None:
        where.append("timestamp <= {c_ts:DateTime64(3, 'UTC')}")
        where.append("(timestamp, request_id) < ({c_ts:DateTime64(3, 'UTC')}, {c_id:String})")
        params["c_ts"] = after.timestamp
        params["c_id"] = after.request_id
    params["limit"] = limit
    return Query(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM events WHERE {' AND '.join(where)} "
        "ORDER BY timestamp DESC, request_id DESC LIMIT {limit:UInt32}",
        params,
    )


def request_detail(org: str, request_id: str, near: datetime | None = None) -> Query:
    """At most one row of ``DETAIL_COLUMNS``. ``near`` (the event's own timestamp, naive UTC)
    narrows the read to one granule range; without it the request-id bloom index helps."""
    params: dict[str, Any] = {"org": org, "rid": request_id}
    where = "org_id = {org:String} AND request_id = {rid:String}"
    if near is not None:
        where += " AND timestamp = {ts:DateTime64(3, 'UTC')}"
        params["ts"] = near
    return Query(f"SELECT {', '.join(DETAIL_COLUMNS)} FROM events WHERE {where} LIMIT 1", params)


# --- prompts ------------------------------------------------------------------------------

_PROMPT_ROLLUP_METRICS = (
    "sum(requests)",
    "sum(input_tokens)",
    "sum(output_tokens)",
    "sum(cost_usd)",
    "quantilesTDigestMergeState(0.5, 0.95)(latency_state)",
)
_PROMPT_EVENT_METRICS = (
    "count()",
    "sum(input_tokens)",
    "sum(output_tokens)",
    "sum(cost_usd)",
    "quantilesTDigestState(0.5, 0.95)(latency_ms)",
)


def _prompt_parts(w: Window, p: _Params, keys: tuple[str, ...], where: str) -> str:
    return _range_parts(
        w,
        p,
        _Rollup("prompt_version_daily", keys, where),
        _PROMPT_ROLLUP_METRICS,
        keys,
        where + " AND (prompt_key != '' OR prompt_version != '')",
        _PROMPT_EVENT_METRICS,
    )


def prompt_keys(org: str, w: Window) -> Query:
    """Rows ``(prompt key, versions, requests, cost)``."""
    p = _params(org, w)
    inner = _prompt_parts(w, p, ("prompt_key", "prompt_version"), "")
    return Query(
        f"SELECT k0, uniqExact(k1), sum(m0), sum(m3) AS cost FROM ({inner}) "
        "GROUP BY k0 ORDER BY cost DESC, k0",
        p,
    )


def prompt_compare(
    org: str,
    w: Window,
    prompt_key: str,
    by_model: bool,
    rename: tuple[list[str], list[str]] | None = None,
) -> Query:
    """Rows ``(version, [model,] requests, input, output, cost, [p50, p95])``; ``rename``
    (models, names) maps models to other names first (the canonical model), their quantile
    states merged like days are."""
    p = _params(org, w)
    name = p.add("pk", prompt_key)
    keys = ("prompt_version", "model") if by_model else ("prompt_version",)
    inner = _prompt_parts(w, p, keys, f" AND prompt_key = {{{name}:String}}")
    names = ", ".join(f"k{i}" for i in range(len(keys)))
    select = names
    if by_model and rename is not None:
        old, new = p.add("rf", rename[0]), p.add("rt", rename[1])
        select = f"k0, transform(k1, {{{old}:Array(String)}}, {{{new}:Array(String)}}, k1) AS c1"
        names = "k0, c1"
    return Query(
        f"SELECT {select}, sum(m0), sum(m1), sum(m2), sum(m3), "
        f"quantilesTDigestMerge(0.5, 0.95)(m4) FROM ({inner}) GROUP BY {names} ORDER BY {names}",
        p,
    )


# --- reconciliation (UTC days: provider bills are per UTC day) ----------------------------


def tracked_by_provider_day(org: str, first: date, last: date) -> Query:
    return Query(
        "SELECT provider, day, sum(requests), sum(cost_usd) FROM cost_daily "
        f"WHERE {_ORG} AND {_DAYS} GROUP BY provider, day ORDER BY provider, day",
        {"org": org, "d0": first, "d1": last},
    )


def billed_by_provider_day(org: str, first: date, last: date) -> Query:
    """Rows ``(provider, date, source, billed)``; FINAL applies the ReplacingMergeTree's
    last-sync-wins, and line items of one source add up."""
    return Query(
        "SELECT provider, date, source, sum(billed_usd) FROM billed_daily FINAL "
        "WHERE org_id = {org:String} AND date >= {d0:Date} AND date <= {d1:Date} "
        "GROUP BY provider, date, source ORDER BY provider, date, source",
        {"org": org, "d0": first, "d1": last},
    )


def tracked_by_provider_day_model(org: str, first: date, last: date) -> Query:
    return Query(
        "SELECT provider, day, model, sum(requests), sum(cost_usd) FROM cost_daily "
        f"WHERE {_ORG} AND {_DAYS} GROUP BY provider, day, model",
        {"org": org, "d0": first, "d1": last},
    )


def billed_items(org: str, first: date, last: date) -> Query:
    """Rows ``(provider, date, source, line_item, billed)``."""
    return Query(
        "SELECT provider, date, source, line_item, sum(billed_usd) FROM billed_daily FINAL "
        "WHERE org_id = {org:String} AND date >= {d0:Date} AND date <= {d1:Date} "
        "GROUP BY provider, date, source, line_item",
        {"org": org, "d0": first, "d1": last},
    )
