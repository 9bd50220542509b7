"""Customer/user × provider/model breakdowns read whole UTC months from the monthly rollup
(migration 0004) and only the days around them from the daily one: exact figures, order and
truncation across month boundaries, on data sent through the real pipeline, for UTC and a :30
zone; and the pure month arithmetic behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from costobs.pricing import load_price_table

from readapi import _sql, _time
from tests.helpers import Running
from tests.readapi_seed import dec, demo_events, group_cost, in_range, send, total_cost

pytestmark = pytest.mark.timeout(180)

# --- the month arithmetic ------------------------------------------------------------------


def test_whole_months_and_edge_days_tile_the_days() -> None:
    start = date(2026, 1, 1)
    for i in range(0, 400, 3):
        for length in (1, 2, 27, 28, 29, 30, 31, 32, 45, 59, 61, 90, 92, 400):
            first = start + timedelta(days=i)
            last = first + timedelta(days=length - 1)
            months, edges = _sql.whole_months(first, last)
            covered: list[date] = []
            if months is not None:
                m0, m1 = months
                assert m0.day == 1 and m1.day == 1 and m0 < m1
                d = m0
                while d < m1:
                    covered.append(d)
                    d += timedelta(days=1)
            assert len(edges) <= 2
            for a, b in edges:
                d = a
                while d <= b:
                    covered.append(d)
                    d += timedelta(days=1)
            expected = [first + timedelta(days=k) for k in range(length)]
            assert sorted(covered) == expected  # no gap, no overlap
            # every whole month inside the days is read from the monthly table
            for d in expected:
                month_end = _time.month_end(d)
                if d.day == 1 and first <= d and month_end <= last:
                    assert months is not None and months[0] <= d < months[1]


def test_which_tables_answer_customer_and_user_by_model() -> None:
    levels = (_sql.Level("dimension", "user"), _sql.Level("dimension", "model"))
    w = _time.window(date(2026, 10, 20), date(2026, 12, 5), "UTC")
    q = _sql.breakdown("o", w, levels, 10)
    assert "cost_dim_model_monthly" in q.sql and "cost_dim_model_daily" in q.sql
    assert "FROM events" not in q.sql
    assert date(2026, 11, 1) in q.params.values() and date(2026, 12, 1) in q.params.values()
    # no whole month: the daily table alone, as before
    w = _time.window(date(2026, 11, 2), date(2026, 11, 29), "UTC")
    assert "cost_dim_model_monthly" not in _sql.breakdown("o", w, levels, 10).sql
    # exactly one month: the monthly table alone
    w = _time.window(date(2026, 11, 1), date(2026, 11, 30), "UTC")
    sql = _sql.breakdown("o", w, levels, 10).sql
    assert "cost_dim_model_monthly" in sql and "cost_dim_model_daily" not in sql
    # a :30 zone: November's UTC days are not all inside Nov 1..30 local, so no whole month;
    # Oct 31..Dec 1 local holds all of November's UTC days
    w = _time.window(date(2026, 11, 1), date(2026, 11, 30), "Asia/Kolkata")
    assert "cost_dim_model_monthly" not in _sql.breakdown("o", w, levels, 10).sql
    w = _time.window(date(2026, 10, 31), date(2026, 12, 1), "Asia/Kolkata")
    sql = _sql.breakdown("o", w, levels, 10).sql
    assert "cost_dim_model_monthly" in sql and "FROM events" in sql
    # other breakdowns do not use it
    for names in (("customer",), ("feature", "model"), ("customer", "feature")):
        lv = tuple(_sql.Level("dimension", n) for n in names)
        assert "cost_dim_model_monthly" not in _sql.breakdown("o", w, lv, 10).sql


# --- through the pipeline -------------------------------------------------------------------

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BOUNDARIES = [datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)]
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


def month_events() -> list[dict[str, Any]]:
    """Demo events over Oct 17 – Dec 6 (UTC), plus events moved onto instants around the UTC
    month boundaries and the Kolkata midnights next to them, re-priced at their new instants."""
    events = demo_events(900, 51, seed=23, now=NOW)
    table = load_price_table()
    extra = demo_events(len(BOUNDARIES) * len(AROUND), 20, seed=29, now=NOW)
    instants = [b + d for b in BOUNDARIES for d in AROUND]
    for e, at in zip(extra, instants, strict=True):
        e["timestamp"] = at.isoformat(timespec="milliseconds")
        quote = table.quote(provider=e["provider"], model=e["model"], usage=e["usage"], at=at)
        e["cost_usd"] = format(quote.cost_usd, "f")
        e["pricing_version"] = quote.version
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
    ("2026-11-02", "2026-11-29"),  # no whole month
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
    # the monthly rollup itself holds the events' exact sums per UTC month
    store = running.stack.services.store  # type: ignore[union-attr]
    rows = await asyncio.to_thread(
        store.query,
        "SELECT month, value, model, sum(requests), sum(cost_usd) FROM cost_dim_model_monthly "
        "WHERE org_id = {org:String} AND dimension = 'customer' GROUP BY month, value, model",
        {"org": running.org.id},
    )

    def utc_month(e: dict[str, Any]) -> date:
        return datetime.fromisoformat(e["timestamp"]).astimezone(UTC).date().replace(day=1)

    assert {(m, v, mo): (int(n), c) for m, v, mo, n, c in rows} == group_cost(
        events, lambda e: (utc_month(e), e["customer_id"], e["model"])
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
        assert {utc_month(e) for e in nov1} == {date(2026, 10, 1), date(2026, 11, 1)}
