"""Forecast (pure models and the endpoint) and reconciliation of tracked vs billed spend."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from readapi._money import percent
from readapi.math import forecast as forecast_math
from tests.helpers import Running, event, eventually, new_org
from tests.readapi_seed import dec, demo_events, send, total_cost

pytestmark = pytest.mark.timeout(120)


def weekly(days: int, start: date, trend: float = 0.5) -> list[tuple[date, float]]:
    """Weekdays 100, weekends 30, on a trend."""
    out = []
    for i in range(days):
        d = start + timedelta(days=i)
        out.append((d, (100.0 if d.weekday() < 5 else 30.0) + trend * i))
    return out


def test_seasonal_model_recovers_a_weekly_pattern() -> None:
    history = weekly(56, date(2026, 9, 7))
    seasonal = forecast_math.fit("seasonal", history)
    linear = forecast_math.fit("linear", history)
    assert seasonal is not None and linear is not None
    assert seasonal.r2 > 0.999 and seasonal.mae < 1e-6
    assert linear.r2 < 0.5
    assert forecast_math.recommended([seasonal, linear]) is seasonal
    nxt = date(2026, 11, 2)  # day 56, a Monday
    assert seasonal.predict(nxt) == pytest.approx(100 + 0.5 * 56)
    assert seasonal.predict(nxt + timedelta(days=5)) == pytest.approx(30 + 0.5 * 61)


def test_linear_model_and_short_histories() -> None:
    history = [(date(2026, 10, 1) + timedelta(days=i), 10.0 + 2.0 * i) for i in range(10)]
    linear = forecast_math.fit("linear", history)
    assert linear is not None and linear.r2 == pytest.approx(1.0)
    assert linear.predict(date(2026, 10, 11)) == pytest.approx(30.0)
    assert forecast_math.fit("seasonal", history) is None  # under two weeks
    assert forecast_math.fit("linear", history[:1]) is None
    falling = [(d, 100.0 - 20 * i) for i, (d, _) in enumerate(history)]
    fit = forecast_math.fit("linear", falling)
    assert fit is not None and fit.predict(date(2026, 12, 1)) == 0.0  # clamped, never negative


def test_month_end_and_budget_run_out() -> None:
    flat = [(date(2026, 10, 1) + timedelta(days=i), 10.0) for i in range(14)]
    fit = forecast_math.fit("linear", flat)
    assert fit is not None
    as_of = date(2026, 11, 10)
    actual = [(date(2026, 11, 1) + timedelta(days=i), 10.0) for i in range(9)]
    actual.append((as_of, 4.0))  # today so far: below the prediction, which counts instead
    out = forecast_math.outlook(fit, as_of, actual, budget=195.0)
    assert out.month_end == pytest.approx(300.0)
    assert out.next_30_days == pytest.approx(300.0)
    assert out.run_out == date(2026, 11, 20)  # 20 days × $10 = $200 > $195
    assert forecast_math.outlook(fit, as_of, actual, budget=1000.0).run_out is None
    spent = [(date(2026, 11, 1) + timedelta(days=i), 50.0) for i in range(10)]
    assert forecast_math.outlook(fit, as_of, spent, budget=120.0).run_out == date(2026, 11, 3)


async def test_forecast_endpoint_on_zero_filled_history(running: Running) -> None:
    events = demo_events(500, 40)  # 2026-09-06 .. 2026-10-15
    events = [e for e in events if not e["timestamp"].startswith("2026-10-04")]  # a quiet day
    await send(running, events)
    h = running.org.headers
    mtd = [e for e in events if "2026-10-01" <= e["timestamp"][:10] <= "2026-10-15"]
    first_budget_day = None
    running_total = Decimal(0)
    for day in range(1, 16):
        d = f"2026-10-{day:02d}"
        running_total += total_cost(e for e in mtd if e["timestamp"].startswith(d))
        if first_budget_day is None and running_total > Decimal("1"):
            first_budget_day = d
    assert first_budget_day is not None
    r = await running.client.get(
        "/v1/forecast",
        params={"as_of": "2026-10-15", "history_days": 56, "monthly_budget_usd": "1"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    days = [p["date"] for p in body["history"]]
    first = min(e["timestamp"][:10] for e in events)
    # from the first day with events (not 56 days of pre-history zeros) through yesterday
    assert days[0] == first and days[-1] == "2026-10-14"
    assert len(days) == (date(2026, 10, 14) - date.fromisoformat(first)).days + 1
    assert (
        dict(zip(days, (p["cost_usd"] for p in body["history"]), strict=True))["2026-10-04"] == "0"
    )
    assert dec(body["month_to_date_usd"]) == total_cost(mtd)
    assert {m["name"] for m in body["models"]} == {"seasonal", "linear"}
    for m in body["models"]:
        assert -1 <= float(m["r2"]) <= 1 and dec(m["mae_usd"]) >= 0
        assert len(m["daily"]) == 30 and m["daily"][0]["date"] == "2026-10-15"
        assert dec(m["month_end_usd"]) >= dec(body["month_to_date_usd"]) - dec(
            next(p["cost_usd"] for p in m["daily"] if p["date"] == "2026-10-15")
        )
        assert m["budget_run_out_date"] == first_budget_day  # already past the budget
    assert body["recommended"] in {"seasonal", "linear"}
    assert body["budget_run_out_date"] == first_budget_day
    big = await running.client.get(
        "/v1/forecast",
        params={"as_of": "2026-10-15", "monthly_budget_usd": "1000000"},
        headers=h,
    )
    assert big.json()["budget_run_out_date"] is None
    other = new_org(running.stack.services.db)  # type: ignore[union-attr]
    none = await running.client.get("/v1/forecast", headers=other.headers)
    assert none.status_code == 200
    assert none.json()["models"] == [] and none.json()["recommended"] is None


async def import_bills(running: Running, bills: list[dict[str, Any]]) -> None:
    r = await running.client.post(
        "/v1/billing/import", json={"bills": bills}, headers=running.org.headers
    )
    assert r.status_code == 202, r.text


async def test_reconcile_tracked_vs_billed(running: Running) -> None:
    h = running.org.headers
    params = {"from": "2026-11-19", "to": "2026-11-21"}
    events = [
        event(0, timestamp="2026-11-20T10:00:00.000Z", provider="openai", model="gpt-4o",
              usage={"input_tokens": 1_000_000, "output_tokens": 0}),  # $2.50
        event(1, timestamp="2026-11-21T10:00:00.000Z", provider="openai", model="gpt-4o",
              usage={"input_tokens": 400_000, "output_tokens": 0}),  # $1.00
        event(2, timestamp="2026-11-20T11:00:00.000Z", provider="anthropic",
              model="claude-haiku-4-5", usage={"input_tokens": 1_000_000, "output_tokens": 0}),
    ]  # fmt: skip
    await send(running, events)
    before = (await running.client.get("/v1/reconcile", params=params, headers=h)).json()
    assert before["billed_data"] is False
    assert all(row["billed_usd"] is None for row in before["rows"])
    tracked = {(r["provider"], r["date"]): dec(r["tracked_usd"]) for r in before["rows"]}
    assert tracked[("openai", "2026-11-20")] == Decimal("2.5")
    anthropic = tracked[("anthropic", "2026-11-20")]
    await import_bills(
        running,
        [
            # api beats import for the same provider-day; never both
            {"provider": "openai", "date": "2026-11-20", "billed_usd": "2.75", "source": "api"},
            {"provider": "openai", "date": "2026-11-20", "billed_usd": "9.00", "source": "import"},
            # below tracked: negative drift, nothing untracked
            {"provider": "openai", "date": "2026-11-21", "billed_usd": "0.90", "source": "import"},
            # line items of one source add up
            {"provider": "anthropic", "date": "2026-11-20", "billed_usd": "0.50",
             "source": "import", "line_item": "a"},
            {"provider": "anthropic", "date": "2026-11-20", "billed_usd": "0.70",
             "source": "import", "line_item": "b"},
            # no tracked events at all: wholly untracked
            {"provider": "mistral", "date": "2026-11-19", "billed_usd": "3.30", "source": "demo"},
        ],
    )  # fmt: skip

    async def landed() -> bool:
        body = (await running.client.get("/v1/reconcile", params=params, headers=h)).json()
        return sum(r["billed_usd"] is not None for r in body["rows"]) == 4

    await eventually(landed)
    body = (await running.client.get("/v1/reconcile", params=params, headers=h)).json()
    assert body["billed_data"] is True
    rows = {(r["provider"], r["date"]): r for r in body["rows"]}
    o20 = rows[("openai", "2026-11-20")]
    assert (o20["billed_usd"], o20["billed_source"], o20["ignored_sources"]) == (
        "2.75",
        "api",
        ["import"],
    )
    assert o20["drift_usd"] == "0.25" and o20["drift_pct"] == "10.00"
    assert o20["untracked_usd"] == "0.25"
    o21 = rows[("openai", "2026-11-21")]
    assert (o21["drift_usd"], o21["drift_pct"], o21["untracked_usd"]) == ("-0.1", "-10.00", "0")
    a20 = rows[("anthropic", "2026-11-20")]
    assert dec(a20["billed_usd"]) == Decimal("1.2")
    assert dec(a20["drift_usd"]) == Decimal("1.2") - anthropic
    assert dec(a20["untracked_usd"]) == max(Decimal(0), Decimal("1.2") - anthropic)
    m19 = rows[("mistral", "2026-11-19")]
    assert (m19["tracked_usd"], m19["tracked_requests"]) == ("0", 0)
    assert (m19["untracked_usd"], m19["drift_usd"], m19["drift_pct"]) == ("3.3", "3.3", None)
    totals = body["totals"]
    tracked_all = Decimal("2.5") + Decimal("1") + anthropic
    billed_all = Decimal("2.75") + Decimal("0.9") + Decimal("1.2") + Decimal("3.3")
    untracked_all = Decimal("0.25") + max(Decimal(0), Decimal("1.2") - anthropic) + Decimal("3.3")
    assert dec(totals["tracked_usd"]) == tracked_all
    assert dec(totals["billed_usd"]) == billed_all
    assert dec(totals["drift_usd"]) == billed_all - tracked_all
    assert totals["drift_pct"] == percent(billed_all - tracked_all, tracked_all)
    assert dec(totals["untracked_usd"]) == untracked_all
    per_provider = {p["provider"]: p for p in body["providers"]}
    assert per_provider["mistral"]["untracked_usd"] == "3.3"
    assert per_provider["mistral"]["drift_pct"] is None
