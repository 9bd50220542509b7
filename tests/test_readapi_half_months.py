"""Customer/user × provider/model breakdowns read UTC half-months wholly or mostly inside the
range from the half-month rollup (migration 0005), the days around them from the daily one
(added, or subtracted from a half-month read whole), and subtract raw hours from UTC days
mostly inside: exact figures, order and truncation across half-month and month boundaries, on
data sent through the real pipeline, for UTC and a :30 zone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from costobs.pricing import load_price_table

from costobs_server.store.pairs import half_start
from readapi.math import ranges
from readapi.sql import breakdowns
from readapi.sql.common import Level
from tests.helpers import Running
from tests.readapi_seed import dec, demo_events, group_cost, in_range, send, total_cost

pytestmark = pytest.mark.timeout(180)

# --- which tables answer ----------------------------------------------------------------


def test_which_tables_answer_customer_and_user_by_model() -> None:
    levels = (Level("dimension", "user"), Level("dimension", "model"))
    half, daily = "cost_dim_model_half", "cost_dim_model_daily"
    minus_daily = "-cost_usd AS m3 FROM cost_dim_model_daily"

    def sql(first: date, last: date, timezone: str = "UTC") -> tuple[str, set[Any]]:
        q = breakdowns.breakdown("o", ranges.window(first, last, timezone), levels, 10)
        return q.sql, set(q.params.values())

    # Oct 16–31 minus Oct 16–19, November's two halves, Dec 1–5 by day
    text, params = sql(date(2026, 10, 20), date(2026, 12, 5))
    assert half in text and minus_daily in text and "FROM events" not in text
    assert {date(2026, 10, 16), date(2026, 10, 19), date(2026, 12, 1), date(2026, 12, 5)} <= params
    # the 3rd–13th: Nov 1–15 minus two days at each end
    text, params = sql(date(2026, 11, 3), date(2026, 11, 13))
    assert half in text and text.count(daily) == 1 and minus_daily in text
    assert {date(2026, 11, 2), date(2026, 11, 14)} <= params
    # five days: the daily table alone
    text, _ = sql(date(2026, 11, 2), date(2026, 11, 6))
    assert half not in text and minus_daily not in text
    # exactly one month: the half-month table alone
    text, _ = sql(date(2026, 11, 1), date(2026, 11, 30))
    assert half in text and daily not in text
    # a :30 zone: Nov 1..30 local holds 5.5 hours of Oct 31 UTC (raw) and 18.5 of Nov 30 UTC
    # (the whole day from November's second half, minus 5.5 raw hours)
    text, _ = sql(date(2026, 11, 1), date(2026, 11, 30), "Asia/Kolkata")
    assert half in text and daily not in text
    assert "-cost_usd AS m3 FROM events" in text
    text, _ = sql(date(2026, 10, 31), date(2026, 12, 1), "Asia/Kolkata")
    assert half in text and daily in text and "FROM events" in text
    # other breakdowns do not use it
    w = ranges.window(date(2026, 10, 31), date(2026, 12, 1), "Asia/Kolkata")
    for names in (("customer",), ("feature", "model"), ("customer", "feature")):
        lv = tuple(Level("dimension", n) for n in names)
        assert half not in breakdowns.breakdown("o", w, lv, 10).sql


# --- through the pipeline -------------------------------------------------------------------

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BOUNDARIES = [
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 11, 16, tzinfo=UTC),
    datetime(2026, 12, 1, tzinfo=UTC),
]
AROUND = [
    timedelta(hours=-6),
    timedelta(hours=-5, minutes=-30, milliseconds=-1),
    timedelta(hours=-5, minutes=-30),
    timedelta(milliseconds=-1),
    timedelta(0),
    timedelta(milliseconds=1),
    timedelta(hours=18, minutes=29, seconds=59, milliseconds=999),
    timedelta(hours=18, minutes=30),
]


ONLY_OUTSIDE = "user-only-on-nov-1"
"""A user whose one event (Nov 1, 18:29:59.999 UTC) lies outside Nov 2..29 in both zones, on
a day those ranges subtract: the breakdown must not list it with zero requests."""


def month_events() -> list[dict[str, Any]]:
    """Demo events over Oct 17 – Dec 6 (UTC), plus events moved onto instants around the UTC
    half-month boundaries and the Kolkata midnights next to them, re-priced there."""
    events = demo_events(900, 51, seed=25, now=NOW)
    table = load_price_table()
    extra = demo_events(len(BOUNDARIES) * len(AROUND), 20, seed=29, now=NOW)
    instants = [b + d for b in BOUNDARIES for d in AROUND]
    for e, at in zip(extra, instants, strict=True):
        e["timestamp"] = at.isoformat(timespec="milliseconds")
        quote = table.quote(provider=e["provider"], model=e["model"], usage=e["usage"], at=at)
        e["cost_usd"] = format(quote.cost_usd, "f")
        e["pricing_version"] = quote.version
    extra[AROUND.index(timedelta(hours=18, minutes=29, seconds=59, milliseconds=999))][
        "user_id"
    ] = ONLY_OUTSIDE
    return events + extra


PAIRS: dict[tuple[str, str], Callable[[dict[str, Any]], tuple[str, str]]] = {
    ("customer", "model"): lambda e: (e["customer_id"], e["model"]),
    ("user", "model"): lambda e: (e["user_id"], e["model"]),
    ("user", "provider"): lambda e: (e["user_id"], e["provider"]),
    ("model", "customer"): lambda e: (e["model"], e["customer_id"]),
    ("provider", "user"): lambda e: (e["provider"], e["user_id"]),
}
RANGES = [
    ("2026-10-20", "2026-12-05"),  # November whole, edge days on both sides
    ("2026-11-01", "2026-11-30"),  # exactly one month
    ("2026-10-31", "2026-12-01"),  # one month and one day each side
    ("2026-11-02", "2026-11-29"),  # both halves, each minus a day
    ("2026-11-03", "2026-11-13"),  # the first half minus two days at each end
    ("2026-11-05", "2026-11-20"),  # days only, across the half-month boundary
    ("2026-10-17", "2026-12-06"),  # everything
]


def expected_rows(
    events: list[dict[str, Any]], key: Callable[[dict[str, Any]], tuple[str, str]]
) -> list[tuple[list[str], int, int, int, Decimal]]:
    """(keys, requests, input, output, exact cost), most expensive first, then by keys."""
    acc: dict[tuple[str, str], list[Any]] = {}
    for e in events:
        row = acc.setdefault(key(e), [0, 0, 0, Decimal(0)])
        row[0] += 1
        row[1] += e["usage"].get("input_tokens", 0)
        row[2] += e["usage"].get("output_tokens", 0)
        row[3] += Decimal(e["cost_usd"])
    ordered = sorted(acc.items(), key=lambda kv: (-kv[1][3], kv[0]))
    return [(list(k), *v) for k, v in ordered]  # type: ignore[misc]


def got_rows(body: dict[str, Any]) -> list[tuple[list[str], int, int, int, Decimal]]:
    return [
        (r["keys"], r["requests"], r["input_tokens"], r["output_tokens"], dec(r["cost_usd"]))
        for r in body["rows"]
    ]


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Kolkata"])
async def test_breakdowns_across_month_boundaries_equal_the_events_exactly(
    running: Running, timezone: str
) -> None:
    events = month_events()
    await send(running, events)
    r = await running.client.patch(
        "/v1/org", json={"timezone": timezone}, headers=running.org.headers
    )
    assert r.status_code == 200, r.text
    # the half-month rollup itself holds the events' exact sums per UTC half-month
    store = running.stack.services.store  # type: ignore[union-attr]
    rows = await asyncio.to_thread(
        store.query,
        "SELECT half, value, model, sum(requests), sum(cost_usd) FROM cost_dim_model_half "
        "WHERE org_id = {org:String} AND dimension = 'customer' GROUP BY half, value, model",
        {"org": running.org.id},
    )

    def utc_day(e: dict[str, Any]) -> date:
        return datetime.fromisoformat(e["timestamp"]).astimezone(UTC).date()

    assert {(h, v, mo): (int(n), c) for h, v, mo, n, c in rows} == group_cost(
        events, lambda e: (half_start(utc_day(e)), e["customer_id"], e["model"])
    )

    for first, last in RANGES:
        inside = in_range(events, first, last, timezone)
        assert inside
        rng = {"from": first, "to": last}
        for (by, then), key in PAIRS.items():
            expected = expected_rows(inside, key)
            assert len(expected) > 5
            headers = running.org.headers
            r = await running.client.get(
                "/v1/breakdown",
                params={"by": by, "then": then, "limit": 1000, **rng},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert got_rows(body) == expected, (by, then, first, last)
            assert body["truncated"] is False
            if "user" in (by, then) and first == "2026-11-02":
                assert ONLY_OUTSIDE in {u for e in events for u in [e["user_id"]]}
                assert not any(ONLY_OUTSIDE in row["keys"] for row in body["rows"])
            assert dec(body["totals"]["cost_usd"]) == total_cost(inside)
            r = await running.client.get(
                "/v1/breakdown",
                params={"by": by, "then": then, "limit": 5, **rng},
                headers=headers,
            )
            top = r.json()
            assert got_rows(top) == expected[:5], (by, then, first, last)
            assert top["truncated"] is True
    # a local day of the :30 zone holds instants of two UTC months
    if timezone != "UTC":
        tz = ZoneInfo(timezone)
        nov1 = [
            e
            for e in events
            if datetime.fromisoformat(e["timestamp"]).astimezone(tz).date() == date(2026, 11, 1)
        ]
        assert {utc_day(e).month for e in nov1} == {10, 11}
