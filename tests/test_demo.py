"""``costobs demo-data``: realistic, valid, priced events through the real ingest path."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from costobs.pricing import load_price_table

from costobs_server.demo import generate_events, send_demo_data, simulate_bills
from costobs_server.wire import validate_event
from tests.helpers import Running, eventually

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_generated_events_are_valid_priced_and_seasonal() -> None:
    events = list(generate_events(6000, 28, seed=7, now=NOW))
    assert events == list(generate_events(6000, 28, seed=7, now=NOW))  # seeded
    for e in events:
        validate_event(e)
    table = load_price_table()
    assert not {
        (e["provider"], e["model"])
        for e in events
        if table.quote(provider=e["provider"], model=e["model"], usage={}).unpriced
    }, "every demo model must be in the price table"
    per_day = Counter(e["timestamp"][:10] for e in events)
    weekday = [n for d, n in per_day.items() if datetime.fromisoformat(d).weekday() < 5]
    weekend = [n for d, n in per_day.items() if datetime.fromisoformat(d).weekday() >= 5]
    assert sum(weekday) / len(weekday) > 1.8 * sum(weekend) / len(weekend)
    first_week = sum(n for d, n in per_day.items() if d < "2026-11-06")
    last_week = sum(n for d, n in per_day.items() if d > "2026-11-19")
    assert last_week > first_week  # growth trend
    statuses = Counter(e["status"] for e in events)
    assert 0.005 < statuses["error"] / len(events) < 0.05
    cut_off = [e for e in events if e["status"] in ("timeout", "cancelled")]
    assert cut_off and all(Decimal(e["cost_usd"]) > 0 for e in cut_off)  # usage known, billed
    # one model across clouds and a gateway, attributed as the SDK and the writer do
    sonnet = {e["provider"] for e in events if e["canonical_model"] == "claude-sonnet-4-5"}
    assert sonnet == {"anthropic", "bedrock", "vertex"}
    through_gateway = [e for e in events if "gateway_host" in e]
    assert through_gateway and {e["provider"] for e in through_gateway} == {"anthropic"}
    for e in through_gateway[:20]:
        at = datetime.fromisoformat(e["timestamp"])
        direct = table.quote("anthropic", "claude-sonnet-4-5", e["usage"], at=at)
        assert e["cost_usd"] == format(direct.cost_usd, "f")
    assert any(e["streaming"] for e in events)
    assert any("pr" in e["tags"] for e in events)
    assert all("region" in e["tags"] for e in events)
    assert all(e["timestamp"] < NOW.isoformat() for e in events)


def test_bills_are_cents_with_drift_and_untracked_spend() -> None:
    events = list(generate_events(2000, 10, seed=3, now=NOW))
    bills = simulate_bills(events, seed=3)
    assert all(Decimal(b["billed_usd"]).as_tuple().exponent >= -2 for b in bills)
    tracked = {(e["provider"], e["timestamp"][:10]) for e in events}
    untracked = [b for b in bills if (b["provider"], b["date"]) not in tracked]
    assert untracked and all(b["provider"] == "mistral" for b in untracked)


def test_demo_bills_explain_a_stable_drift_per_model() -> None:
    from datetime import date as day_of

    from billing.line_items import item_model
    from readapi.math import drift

    events = list(generate_events(8000, 14, seed=5, now=NOW))
    bills = simulate_bills(events, seed=5)
    by_cell = drift.cells(
        (
            (
                e["provider"],
                day_of.fromisoformat(e["timestamp"][:10]),
                e["canonical_model"],
                1,
                Decimal(e["cost_usd"]),
            )
            for e in events
        ),
        (
            (
                b["provider"],
                day_of.fromisoformat(b["date"]),
                item_model(b["line_item"]),
                Decimal(b["billed_usd"]),
            )
            for b in bills
        ),
    )
    suggested = {
        (s["provider"], s["model"]): s["override"]["multiplier"]
        for s in drift.explain("default", by_cell)["suggestions"]
    }
    # only the model billed a steady 4 % over (cents rounding moves the fourth decimal)
    assert list(suggested) == [("anthropic", "claude-sonnet-4-5")]
    assert abs(Decimal(suggested[("anthropic", "claude-sonnet-4-5")]) - Decimal("1.04")) < Decimal(
        "0.001"
    )


async def test_demo_data_goes_through_ingest(running: Running) -> None:
    result = await asyncio.to_thread(
        send_demo_data, running.url, running.org.key, events=1200, days=5, seed=11
    )
    assert result["events"] == 1200
    assert result["rejected"] == 0
    expected = sum(Decimal(e["cost_usd"]) for e in generate_events(1200, 5, seed=11))
    first_day = min(e["timestamp"][:10] for e in generate_events(1200, 5, seed=11))
    end = datetime.now(UTC).date().isoformat()

    async def arrived() -> bool:
        return (await running.summary(first_day, end))["requests"] == 1200

    await eventually(arrived, within=30)
    # the writer re-prices with the same table the generator used: identical to the digit
    assert Decimal((await running.summary(first_day, end))["cost_usd"]) == expected
    store = running.stack.services.store  # type: ignore[union-attr]

    def billed() -> bool:
        rows = store.query(
            "SELECT count() FROM billed_daily WHERE org_id={o:String}", {"o": running.org.id}
        )
        return bool(rows[0][0] > 0)

    await eventually(billed)
