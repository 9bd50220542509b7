"""Which days and half-months of the pair rollups the compactor has completed, and which
two-level breakdowns those rollups answer. Pure: a query and the reading of its rows."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from costobs_server.store import pairs
from costobs_server.store.pairs import Done, half_end, half_start
from readapi.math.ranges import Window
from readapi.sql.common import Level, Query


def pair_levels(levels: tuple[Level, ...]) -> tuple[str, str] | None:
    """The pair rollup that answers this two-level breakdown, or None."""
    if len(levels) != 2:
        return None
    return pairs.pair_of(levels[0].label, levels[1].label)


def pair_state(org: str, w: Window) -> Query:
    """Rows ``(grain, UTC day, events)`` for ``pair_done``: events per day (grain 'count')
    and the compactor's records, over the half-months around the window."""
    first, last = pair_span(w)
    return Query(
        "SELECT 'count', day, toInt64(sum(requests)) FROM cost_daily WHERE org_id = {org:String} "
        "AND day >= {p0:Date} AND day <= {p1:Date} GROUP BY day "
        "UNION ALL SELECT toString(grain), start, argMax(requests, written_at) "
        "FROM cost_pair_done WHERE org_id = {org:String} AND start >= {p0:Date} "
        "AND start <= {p1:Date} GROUP BY grain, start",
        {"org": org, "p0": first, "p1": last},
    )


def pair_span(w: Window) -> tuple[date, date]:
    last = (w.end_naive - timedelta(microseconds=1)).date()
    return half_start(w.start_naive.date()), half_end(last)


def pair_done(w: Window, rows: list[tuple[Any, ...]]) -> Done:
    """Which days and half-months of the pair rollups are complete, from ``pair_state``."""
    counts = {d: int(n) for g, d, n in rows if g == "count"}
    done = {(g, d): int(n) for g, d, n in rows if g != "count"}
    return pairs.done_units(counts, done, *pair_span(w))
