"""Breakdowns by dimension or tag, the spend carrying a tag, and the tag keys: which rollup
answers (``readapi.sql``), read over exactly the range. Pure: each function returns a query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from costobs_server.store.pairs import Done
from readapi.math.cover import DaySpan, cover, pair_cover
from readapi.math.ranges import Span, Window
from readapi.sql.common import (
    BY_MODEL,
    DIMENSIONS,
    HIGH_CARDINALITY,
    Level,
    Params,
    Query,
    in_spans,
    outer_sums,
    union_all,
    window_params,
)
from readapi.sql.coverage import Rollup, days_in, piece, range_parts
from readapi.sql.pair_state import pair_levels

BREAKDOWN_METRICS = ("requests", "input_tokens", "output_tokens", "cost_usd")
# Per row, Int64 and Decimal in every source: the pieces of a range are signed rows summed
# once by the outer query (``range_parts`` with ``subtract``)
ROLLUP_BREAKDOWN = (
    "toInt64(requests)",
    "toInt64(input_tokens)",
    "toInt64(output_tokens)",
    "cost_usd",
)
EVENT_BREAKDOWN = (
    "toInt64(1)",
    "toInt64(input_tokens)",
    "toInt64(output_tokens)",
    "cost_usd",
)


@dataclass(frozen=True)
class Untagged:
    """One tag level: the breakdown's rows hold only the events carrying ``tag`` (a tag rollup
    has no others); the rest come from the totals, or beside a dimension from that
    dimension's own breakdown, minus ``tagged`` (``readapi.math.remainders``)."""

    tag: str
    other: Level | None
    """The dimension beside the tag, if any."""
    tag_first: bool
    """The tag is the first level (its '' goes first in the keys)."""


@dataclass(frozen=True)
class WithoutATag:
    """Two tags: the breakdown's rows hold only the events carrying both; the rest by
    inclusion–exclusion from each tag's own breakdown and the totals, which needs every row
    of the breakdown (not only the first ``limit``)."""

    first: Level
    second: Level


@dataclass(frozen=True)
class BreakdownPlan:
    """Which queries answer a breakdown by ``levels`` and how their rows combine."""

    levels: tuple[Level, ...]
    pair: tuple[str, str] | None
    """The pair rollup (``pair_levels``) that answers it once its state (``pair_state``) is
    read, or None."""
    rest: Untagged | WithoutATag | None
    """How the events the breakdown's rows leave out come back; None: no tag level, the rows
    hold every event."""


def plan(levels: tuple[Level, ...]) -> BreakdownPlan:
    tags = [(i, lv) for i, lv in enumerate(levels) if lv.kind == "tag"]
    rest: Untagged | WithoutATag | None = None
    if len(tags) == 2:
        rest = WithoutATag(levels[0], levels[1])
    elif tags:
        ((i, tag),) = tags
        other = levels[1 - i] if len(levels) == 2 else None
        rest = Untagged(tag.name, other, tag_first=i == 0)
    return BreakdownPlan(levels, pair_levels(levels), rest)


@dataclass(frozen=True)
class _Sources:
    """Where one breakdown query reads from."""

    rollup: Rollup | None
    """The rollup for what it holds whole; None: raw events (or the pair rollups, when their
    state is known) for everything."""
    raw_keys: tuple[str, ...]
    """Key expressions, one per level, over raw events."""
    raw_where: str
    """Extra conditions on raw events: the events carrying every tag level (``plan``: such a
    breakdown leaves the others out, as the tag rollups do)."""


def _sources(levels: tuple[Level, ...], p: Params) -> _Sources:
    """Which rollup answers ``levels``, and how raw events are keyed and filtered."""
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
    rollup: Rollup | None = None
    if not tags and len(levels) == 1:
        name = p.add("dim", levels[0].name)
        rollup = Rollup("cost_dim_daily", ("value",), f" AND dimension = {{{name}:String}}")
    elif not tags and not high:
        rollup = Rollup("cost_attr_daily", tuple(DIMENSIONS[lv.name] for lv in levels), "")
    elif not tags and len(names & BY_MODEL) == 1 and names & {"provider", "model"}:
        (party,) = (lv.name for lv in dims if lv.name in BY_MODEL)
        name = p.add("dim", party)
        keys = tuple("value" if lv.name == party else DIMENSIONS[lv.name] for lv in levels)
        rollup = Rollup(
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
        rollup = Rollup(table, keys, f" AND tag_key = {{{name}:String}}", by_hour=not dims)
        raw_where = f" AND mapContains(tags, {{{name}:String}})"
    else:
        # tag × customer/user, two tags: only the events with every tag (the pair rollups hold
        # no others; the caller adds the rest)
        raw_where = "".join(f" AND mapContains(tags, {{{n}:String}})" for n in tag_names.values())
    return _Sources(rollup, tuple(raw_keys), raw_where)


def _pair_parts(
    w: Window,
    p: Params,
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
        parts.append(piece("cost_pair_half", keys, ROLLUP_BREAKDOWN, when))
    for sign, raw in ((1, c.raw), (-1, c.raw_removed)):
        days = [span for span, s in c.days if s == sign]
        if days:
            when = days_in(p, days) + which
            parts.append(piece("cost_pair_daily", keys, ROLLUP_BREAKDOWN, when, sign))
        # days not done, read whole from raw events with the range's raw edges
        other = tuple(_utc_span(span) for span, s in c.fallback if s == sign) + raw
        if other:
            when = in_spans(p, other) + raw_where
            parts.append(piece("events", raw_keys, EVENT_BREAKDOWN, when, sign))
    return union_all(parts)


def _utc_span(days: DaySpan) -> Span:
    """The instants of UTC days ``[a, b]``."""
    a, b = days
    return datetime.combine(a, time()), datetime.combine(b + timedelta(days=1), time())


def breakdown(
    org: str, w: Window, levels: tuple[Level, ...], limit: int, done: Done | None = None
) -> Query:
    """Rows ``(k0, [k1,] *BREAKDOWN_METRICS)``, most expensive first, at most ``limit``.
    '' is "not set"; a tag level's rows hold only the events carrying it (``plan`` says how the
    rest come back). ``done``: the pair rollups' state (``pair_done``), for the breakdowns they
    answer (``pair_levels``)."""
    p = window_params(org, w)
    source = _sources(levels, p)
    pair = pair_levels(levels)
    if pair is not None and done is not None:
        labels = [lv.label for lv in levels]
        columns = tuple("a_value" if label == pair[0] else "b_value" for label in labels)
        inner = _pair_parts(w, p, pair, columns, done, source.raw_keys, source.raw_where)
    else:
        inner = range_parts(
            w,
            p,
            source.rollup,
            ROLLUP_BREAKDOWN,
            source.raw_keys,
            source.raw_where,
            EVENT_BREAKDOWN,
            subtract=True,
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
    p = window_params(org, w)
    name = p.add("tag", tag_key)
    cond = f" AND tag_key = {{{name}:String}}"
    has_tag = f" AND mapContains(tags, {{{name}:String}})"
    rollup: Rollup | None
    if dimension is None:
        rollup = Rollup("cost_tag_hourly", ("tag_key",), cond, by_hour=True)
        raw_keys: tuple[str, ...] = (f"{{{name}:String}}",)
    elif dimension in HIGH_CARDINALITY:
        rollup = None
        raw_keys = (DIMENSIONS[dimension],)
    else:
        column = DIMENSIONS[dimension]
        rollup = Rollup("cost_tag_attr_daily", (column,), cond)
        raw_keys = (column,)
    if dimension in HIGH_CARDINALITY and done is not None:
        pair = (f"tag:{tag_key}", dimension)
        inner = _pair_parts(w, p, pair, ("b_value",), done, raw_keys, has_tag)
    else:
        inner = range_parts(
            w, p, rollup, ROLLUP_BREAKDOWN, raw_keys, has_tag, EVENT_BREAKDOWN, subtract=True
        )
    if dimension is None:
        return Query(f"SELECT {outer_sums(4, 'm')} FROM ({inner})", p)
    return Query(
        f"SELECT k0, {outer_sums(4, 'm')} FROM ({inner}) GROUP BY k0 HAVING sum(m0) != 0", p
    )


def tag_keys(org: str, w: Window, limit: int = 500) -> Query:
    """Rows ``(tag key, distinct values, requests, cost)`` for the tag picker."""
    p = window_params(org, w)
    inner = range_parts(
        w,
        p,
        Rollup("cost_tag_hourly", ("tag_key", "tag_value"), "", by_hour=True),
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
