"""Org time zones with :30/:45 offsets and customer/user two-level breakdowns, read from the
quarter-hour and customer/user × model rollups (migration 0003): exact figures across local
midnights, on data sent through the real pipeline, and the pure window arithmetic behind them."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from costobs.pricing import load_price_table

from costobs_server.store.pairs import Done, days_of
from readapi.math import ranges
from readapi.sql import breakdowns
from readapi.sql import spend as spend_sql
from readapi.sql.common import Level
from tests.helpers import Org, Running, eventually
from tests.readapi_seed import dec, demo_events, group_cost, in_range, local_day, send, total_cost

pytestmark = pytest.mark.timeout(120)

# --- the window arithmetic ----------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/St_Johns",  # -3:30 / -2:30
    "Asia/Kolkata",  # +5:30
    "Asia/Kathmandu",  # +5:45
    "Australia/Eucla",  # +8:45
    "Australia/Lord_Howe",  # +10:30 / +11 (a 30-minute DST)
    "Pacific/Chatham",  # +12:45 / +13:45
]
RANGES = [
    (date(2026, 10, 5), date(2026, 10, 12)),
    (date(2026, 3, 25), date(2026, 4, 10)),  # DST in both hemispheres
    (date(2026, 9, 20), date(2026, 11, 5)),
    (date(2026, 10, 7), date(2026, 10, 7)),
]
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)


def pieces(w: ranges.Window) -> list[tuple[datetime, datetime, str]]:
    """Every piece the per-day queries read, as (from, to, source)."""
    out = []
    if w.whole_hours:
        h = w.whole_hours[0]
        while h < w.whole_hours[1]:
            if h not in w.straddled_hours:
                out.append((h, h + HOUR, "hour"))
            h += HOUR
    out += [(h, h + HOUR, "quarter") for h in w.quarter_hours]
    out += [(h, h + HOUR, "raw") for h in w.raw_hours]
    out += [(a, b, "quarter") for a, b in w.quarter_edges]
    out += [(a, b, "raw") for a, b in w.raw_edges]
    return sorted(out)


@pytest.mark.parametrize("timezone", ZONES)
@pytest.mark.parametrize(("first", "last"), RANGES)
def test_rollup_pieces_tile_the_range_and_each_bucket_is_in_one_local_day(
    timezone: str, first: date, last: date
) -> None:
    w = ranges.window(first, last, timezone)
    tz = ZoneInfo(timezone)
    got = pieces(w)
    assert got[0][0] == w.start_naive and got[-1][1] == w.end_naive
    for (_, b, _s), (a, _, _t) in pairwise(got):
        assert b == a  # no gap, no overlap
    assert set(w.straddled_hours) == set(w.quarter_hours) | set(w.raw_hours)
    assert not w.raw_hours and not w.raw_edges  # every zone today is on the quarter-hour grid

    def day_of(naive: datetime) -> date:
        return naive.replace(tzinfo=UTC).astimezone(tz).date()

    for a, b, source in got:
        step = HOUR if source == "hour" else QUARTER
        bucket = a
        while bucket < b:
            # the rollup's bucket lies wholly in one local day: grouping by toDate is exact
            last_instant = bucket + step - timedelta(milliseconds=1)
            assert day_of(bucket) == day_of(last_instant), (source, bucket)
            bucket += step
        assert (a - datetime(2000, 1, 1)) % step == timedelta(0)


def test_offsets_off_the_quarter_hour_grid_fall_back_to_raw_events() -> None:
    # Monrovia kept local mean time (-0:44:30) until 1972
    w = ranges.window(date(1960, 5, 1), date(1960, 5, 3), "Africa/Monrovia")
    assert w.grain == "raw"
    assert w.raw_hours == w.straddled_hours and len(w.raw_hours) == 2 and not w.quarter_hours
    assert w.raw_edges  # 30 seconds at each end
    for a, b in w.raw_edges:
        assert b - a < QUARTER
    assert "FROM events" in spend_sql.totals("o", w).sql


@pytest.mark.parametrize("timezone", ["Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"])
def test_quarter_hour_zones_read_no_raw_events_for_per_day_figures(timezone: str) -> None:
    w = ranges.window(date(2026, 8, 1), date(2026, 10, 31), timezone)
    assert w.grain == "raw" and len(w.quarter_hours) == 91
    for query in (
        spend_sql.totals("o", w),
        spend_sql.series("o", w, "model"),
        spend_sql.unpriced("o", w),
    ):
        assert "cost_model_quarter" in query.sql
        assert "FROM events" not in query.sql


def test_customer_and_user_by_provider_or_model_read_their_rollups() -> None:
    # half-months from their rollup (0005), the days around them from the daily one
    w = ranges.window(date(2026, 8, 1), date(2026, 10, 30), "UTC")
    tables = (
        "cost_dim_model_half",
        "cost_dim_model_daily",
        "cost_pair_half",
        "cost_pair_daily",
        "FROM events",
    )
    done = Done(frozenset(days_of(date(2026, 7, 1), date(2026, 10, 31))), frozenset())

    def table(*names: str) -> tuple[str, ...]:
        levels = tuple(Level("dimension", n) for n in names)
        sql = breakdowns.breakdown("o", w, levels, 100, done).sql
        return tuple(t for t in tables if t in sql)

    both = ("cost_dim_model_half", "cost_dim_model_daily")
    assert table("customer", "model") == both
    assert table("model", "user") == both
    assert table("user", "provider") == both
    # the pair rollups (0006): with no half-month done, their days
    assert table("customer", "feature") == ("cost_pair_daily",)
    assert table("user", "customer") == ("cost_pair_daily",)


# --- through the pipeline -------------------------------------------------------------------


async def get(running: Running, path: str, **params: Any) -> dict[str, Any]:
    r = await running.client.get(path, params=params, headers=running.org.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def set_timezone(running: Running, timezone: str) -> None:
    r = await running.client.patch(
        "/v1/org", json={"timezone": timezone}, headers=running.org.headers
    )
    assert r.status_code == 200, r.text


async def quarter_rollups_hold(running: Running, org: Org, n: int) -> None:
    """Wait for migration 0003's rollups too (an insert fills its views one after another)."""
    store = running.stack.services.store  # type: ignore[union-attr]
    sql = (
        "SELECT (SELECT sum(requests) FROM cost_model_quarter WHERE org_id = {org:String}), "
        "(SELECT sum(requests) FROM cost_dim_model_daily WHERE org_id = {org:String} "
        "AND dimension = 'customer'), "
        "(SELECT sum(requests) FROM cost_dim_model_daily WHERE org_id = {org:String} "
        "AND dimension = 'user')"
    )

    async def check() -> bool:
        (row,) = await asyncio.to_thread(store.query, sql, {"org": org.id})
        return all(int(v or 0) >= n for v in row)

    await eventually(check, within=30)


# Around every local midnight: before, on, just after and inside each quarter of the UTC hour
# that holds it, and the whole hours on either side.
AROUND_MIDNIGHT = [
    timedelta(hours=-2),
    timedelta(minutes=-61),
    timedelta(minutes=-31),
    timedelta(minutes=-16),
    timedelta(milliseconds=-1),
    timedelta(0),
    timedelta(milliseconds=1),
    timedelta(minutes=14, seconds=59, milliseconds=999),
    timedelta(minutes=15),
    timedelta(minutes=29, seconds=59, milliseconds=999),
    timedelta(minutes=30),
    timedelta(minutes=44),
    timedelta(minutes=59, seconds=59, milliseconds=999),
    timedelta(hours=1),
    timedelta(hours=5, minutes=7),
]
FIRST, LAST = date(2026, 10, 5), date(2026, 10, 12)


def around_midnights(timezone: str) -> list[dict[str, Any]]:
    """Priced demo events moved onto instants around the zone's local midnights, from the day
    before the range to the day after it, re-priced at their new instants."""
    tz = ZoneInfo(timezone)
    table = load_price_table()
    instants = []
    day = FIRST - timedelta(days=1)
    while day <= LAST + timedelta(days=2):
        midnight = ranges.local_midnight(day, tz)
        instants += [midnight + d for d in AROUND_MIDNIGHT]
        day += timedelta(days=1)
    events = demo_events(len(instants), 20, seed=11)
    for i, (e, at) in enumerate(zip(events, instants, strict=True)):
        e["timestamp"] = at.isoformat(timespec="milliseconds")
        if i % 17 == 0:
            e["model"] = "brand-new-model"  # unpriced
        quote = table.quote(provider=e["provider"], model=e["model"], usage=e["usage"], at=at)
        e["cost_usd"] = format(quote.cost_usd, "f")
        e["pricing_version"] = quote.version
    return events


def as_map(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[int, Decimal]]:
    return {tuple(r["keys"]): (r["requests"], dec(r["cost_usd"])) for r in rows}


@pytest.mark.parametrize("timezone", ["Asia/Kolkata", "Asia/Kathmandu"])
async def test_exact_figures_across_local_midnights_of_a_quarter_hour_zone(
    running: Running, timezone: str
) -> None:
    events = around_midnights(timezone)
    await send(running, events)
    await quarter_rollups_hold(running, running.org, len(events))
    await set_timezone(running, timezone)
    rng = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
    inside = in_range(events, rng["from"], rng["to"], timezone)
    assert 0 < len(inside) < len(events)

    series = await get(running, "/v1/series", group_by="model", **rng)
    assert series["range"]["source"] == "raw"
    expected = group_cost(inside, lambda e: local_day(e, timezone))
    assert len(series["points"]) == 8
    for point in series["points"]:
        n, cost = expected[date.fromisoformat(point["date"])]
        assert (point["requests"], dec(point["cost_usd"])) == (n, cost), point["date"]
        assert sum(dec(v) for v in point["groups"].values()) == cost

    summary = await get(running, "/v1/summary", **rng)
    assert summary["totals"]["requests"] == len(inside)
    assert dec(summary["totals"]["cost_usd"]) == total_cost(inside)
    assert summary["totals"]["input_tokens"] == sum(e["usage"]["input_tokens"] for e in inside)
    # one local day on its own, whose both ends are partial UTC hours
    day = await get(running, "/v1/summary", **{"from": "2026-10-09", "to": "2026-10-09"})
    one = in_range(events, "2026-10-09", "2026-10-09", timezone)
    assert (day["totals"]["requests"], dec(day["totals"]["cost_usd"])) == (
        len(one),
        total_cost(one),
    )

    unpriced = await get(running, "/v1/unpriced", **rng)
    new_model = [e for e in inside if e["model"] == "brand-new-model"]
    assert {(m["provider"], m["model"]): m["requests"] for m in unpriced["models"]} == {
        k: n for k, (n, _) in group_cost(new_model, lambda e: (e["provider"], e["model"])).items()
    }
    assert summary["totals"]["unpriced_requests"] == len(new_model) > 0

    pairs = {
        ("customer", "model"): lambda e: (e["customer_id"], e["model"]),
        ("model", "customer"): lambda e: (e["model"], e["customer_id"]),
        ("user", "provider"): lambda e: (e["user_id"], e["provider"]),
        ("customer", "user"): lambda e: (e["customer_id"], e["user_id"]),
    }
    for (by, then), key in pairs.items():
        body = await get(running, "/v1/breakdown", by=by, then=then, limit=1000, **rng)
        assert as_map(body["rows"]) == group_cost(inside, key), (by, then)
        assert dec(body["totals"]["cost_usd"]) == total_cost(inside)


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
async def test_two_level_customer_by_model_over_whole_and_partial_days(
    running: Running, timezone: str
) -> None:
    events = demo_events(600, 30, seed=5)
    await send(running, events)
    await quarter_rollups_hold(running, running.org, len(events))
    await set_timezone(running, timezone)
    for first, last in (("2026-09-20", "2026-10-14"), ("2026-10-03", "2026-10-03")):
        inside = in_range(events, first, last, timezone)
        rng = {"from": first, "to": last}
        body = await get(running, "/v1/breakdown", by="customer", then="model", limit=1000, **rng)
        assert body["levels"] == ["customer", "model"]
        assert as_map(body["rows"]) == group_cost(inside, lambda e: (e["customer_id"], e["model"]))
        assert dec(body["totals"]["cost_usd"]) == total_cost(inside)
        costs = [dec(r["cost_usd"]) for r in body["rows"]]
        assert costs == sorted(costs, reverse=True)
        top = await get(running, "/v1/breakdown", by="user", then="model", limit=3, **rng)
        ranked = sorted(
            group_cost(inside, lambda e: (e["user_id"], e["model"])).values(),
            key=lambda v: -v[1],
        )
        assert [dec(r["cost_usd"]) for r in top["rows"]] == [v[1] for v in ranked[:3]]
        assert top["truncated"] is (len(ranked) > 3)
