"""The compactor: fills the pair rollups (migration 0006) for closed UTC days, off the insert
path, and keeps them exact when late events arrive.

Per stale day it inserts the difference between the pairs computed from that day's events
and the rows already stored (one INSERT … SELECT: a SELECT reads one snapshot of the parts,
so the result is the day's pairs as of that snapshot), then records how many events the
rows now hold. The read API trusts a day only while that record equals cost_daily's count
(``pairs.done_units``), so a day whose events changed, or whose insert was interrupted, is read
from other rollups until the next run redoes it. Half-months are built from complete days the
same way. Run one compactor per store: two racing on the same day could double a difference
(the record then disagrees and the day is redone, but not read meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from costobs_server.store import EventStore, pairs

log = logging.getLogger("costobs.compactor")

_METRICS = "requests, input_tokens, output_tokens, cost_usd"
_SUMS = "sum(requests), sum(input_tokens), sum(output_tokens), sum(cost_usd)"
_NONZERO = (
    "HAVING sum(requests) != 0 OR sum(input_tokens) != 0 OR sum(output_tokens) != 0 "
    "OR sum(cost_usd) != 0"
)
_NEGATED = "-requests, -input_tokens, -output_tokens, -cost_usd"

_STATE = (
    "SELECT 'count', org_id, day, toInt64(sum(requests)) FROM cost_daily "
    "WHERE day < {today:Date} AND ({org:String} = '' OR org_id = {org:String}) "
    "GROUP BY org_id, day "
    "UNION ALL SELECT toString(grain), org_id, start, argMax(requests, written_at) "
    "FROM cost_pair_done WHERE {org:String} = '' OR org_id = {org:String} "
    "GROUP BY org_id, grain, start"
)


_DAY = (
    "INSERT INTO cost_pair_daily (org_id, a, b, day, a_value, b_value, " + _METRICS + ") "
    "SELECT {org:String}, a, b, {day:Date}, a_value, b_value, " + _SUMS + " FROM ("
    "SELECT p.1 AS a, p.3 AS b, p.2 AS a_value, p.4 AS b_value, toInt64(1) AS requests, "
    "toInt64(input_tokens) AS input_tokens, toInt64(output_tokens) AS output_tokens, "
    "cost_usd FROM events ARRAY JOIN " + pairs.pairs_expression() + " AS p "
    "WHERE org_id = {org:String} AND timestamp >= {t0:DateTime64(3, 'UTC')} "
    "AND timestamp < {t1:DateTime64(3, 'UTC')} "
    "UNION ALL SELECT a, b, a_value, b_value, " + _NEGATED + " FROM cost_pair_daily "
    "WHERE org_id = {org:String} AND day = {day:Date}"
    ") GROUP BY a, b, a_value, b_value " + _NONZERO
)


_HALF = (
    "INSERT INTO cost_pair_half (org_id, a, b, half, a_value, b_value, " + _METRICS + ") "
    "SELECT {org:String}, a, b, {half:Date}, a_value, b_value, " + _SUMS + " FROM ("
    "SELECT a, b, a_value, b_value, " + _METRICS + " FROM cost_pair_daily "
    "WHERE org_id = {org:String} AND day >= {half:Date} AND day <= {end:Date} "
    "UNION ALL SELECT a, b, a_value, b_value, " + _NEGATED + " FROM cost_pair_half "
    "WHERE org_id = {org:String} AND half = {half:Date}"
    ") GROUP BY a, b, a_value, b_value " + _NONZERO
)


def _record_sql(table: str, column: str, grain: str) -> str:
    """Records the events a day's (half's) rows hold: every event adds one to each dimension
    pair kind, so all kinds must be present and agree; -1 says they do not (a partial insert).
    Arguments are this module's constants."""
    return (
        "INSERT INTO cost_pair_done (org_id, grain, start, requests, written_at) "
        f"SELECT {{org:String}}, '{grain}', {{start:Date}}, "
        f"if(count() = {pairs.DIMENSION_KINDS} AND min(n) = max(n), max(n), -1), now64(6) "
        f"FROM (SELECT sum(requests) AS n FROM {table} WHERE org_id = {{org:String}} "
        f"AND {column} = {{start:Date}} AND a IN ('customer', 'user') "
        "AND NOT startsWith(b, 'tag:') GROUP BY a, b)"
    )


_RECORD = {
    "day": _record_sql("cost_pair_daily", "day", "day"),
    "half": _record_sql("cost_pair_half", "half", "half"),
}


@dataclass
class Compacted:
    days: int = 0
    halves: int = 0
    seconds: float = 0.0


def state(
    store: EventStore, today: date, org: str | None
) -> dict[str, tuple[dict[date, int], dict[tuple[str, date], int]]]:
    out: dict[str, tuple[dict[date, int], dict[tuple[str, date], int]]] = {}
    for grain, org_id, start, n in store.query(_STATE, {"today": today, "org": org or ""}):
        counts, done = out.setdefault(org_id, ({}, {}))
        if grain == "count":
            counts[start] = int(n)
        else:
            done[(grain, start)] = int(n)
    return out


def compact(
    store: EventStore,
    today: date | None = None,
    max_days: int | None = None,
    org: str | None = None,
) -> Compacted:
    """Bring the pair rollups up to date for the UTC days before ``today`` (of every org, or
    of ``org``); ``max_days`` bounds the days done in this call (the oldest first)."""
    started = time.perf_counter()
    today = today or datetime.now(UTC).date()
    result = Compacted()
    stale = [
        (org_id, day)
        for org_id, (counts, done) in state(store, today, org).items()
        for day in pairs.stale_days(counts, done, today)
    ]
    for org_id, day in stale[:max_days]:
        t0 = datetime.combine(day, datetime.min.time())
        params: dict[str, Any] = {"org": org_id, "day": day, "t0": t0, "t1": t0 + timedelta(1)}
        store.client.command(_DAY, parameters=params)
        _record(store, "day", org_id, day)
        result.days += 1
    # read the records again: the days just done may complete half-months
    for org_id, (counts, done) in state(store, today, org).items():
        for half in pairs.stale_halves(counts, done, today):
            end = pairs.half_end(half)
            store.client.command(_HALF, parameters={"org": org_id, "half": half, "end": end})
            _record(store, "half", org_id, half)
            result.halves += 1
    result.seconds = time.perf_counter() - started
    return result


def recompute(store: EventStore, org: str, day: date) -> bool:
    """Redo one compacted day, and its half-month if that was compacted too, after its events'
    figures changed without their count changing (re-pricing): the records alone would call
    them complete. A day never compacted is left to the compactor. Returns whether it ran."""
    half = pairs.half_start(day)
    records = {
        (grain, start)
        for grain, start in store.query(
            "SELECT DISTINCT toString(grain), start FROM cost_pair_done "
            "WHERE org_id = {org:String} AND ((grain = 'day' AND start = {day:Date}) "
            "OR (grain = 'half' AND start = {half:Date}))",
            {"org": org, "day": day, "half": half},
        )
    }
    if ("day", day) not in records:
        return False
    t0 = datetime.combine(day, datetime.min.time())
    params: dict[str, Any] = {"org": org, "day": day, "t0": t0, "t1": t0 + timedelta(1)}
    store.client.command(_DAY, parameters=params)
    _record(store, "day", org, day)
    if ("half", half) in records:
        end = pairs.half_end(half)
        store.client.command(_HALF, parameters={"org": org, "half": half, "end": end})
        _record(store, "half", org, half)
    return True


def _record(store: EventStore, grain: str, org: str, start: date) -> None:
    store.client.command(_RECORD[grain], parameters={"org": org, "start": start})


class Compactor:
    """Runs ``compact`` every ``interval_s`` seconds (a few days per step, so a first run over
    months of history does not hold the store for minutes at a time)."""

    def __init__(self, store: EventStore, interval_s: float, days_per_step: int = 7) -> None:
        self.store = store
        self.interval_s = interval_s
        self.days_per_step = days_per_step
        self.last: Compacted | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            more = False
            try:
                step = await asyncio.to_thread(compact, self.store, None, self.days_per_step)
                self.last = step
                if step.days or step.halves:
                    log.info(
                        "compacted %d days, %d half-months in %.1fs",
                        step.days,
                        step.halves,
                        step.seconds,
                    )
                more = step.days == self.days_per_step  # a full step: days may be left
            except Exception:  # keep running: the read API falls back while pairs lag
                log.exception("compaction failed; retrying in %ss", self.interval_s)
            if not more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.interval_s)
