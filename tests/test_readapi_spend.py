"""Read API spend endpoints on data sent through the real pipeline (ingest → JetStream →
writer → chDB): exact decimal totals, period and month-over-month changes, zero-filled series,
breakdowns by every dimension and by tags, org time zones, unpriced models."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from readapi._money import percent, ratio
from tests.helpers import Running, event
from tests.readapi_seed import (
    FIRST_DAY,
    LAST_DAY,
    dec,
    demo_events,
    group_cost,
    in_range,
    local_day,
    send,
    total_cost,
)

pytestmark = pytest.mark.timeout(120)


async def get(running: Running, path: str, **params: Any) -> dict[str, Any]:
    r = await running.client.get(path, params=params, headers=running.org.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture
async def seeded(running: Running) -> list[dict[str, Any]]:
    events = demo_events(700, 45)
    # an event late in a UTC day, which is the next day in Europe/Berlin and Asia/Kolkata:
    # the time zone test needs one whatever the generator's random draws
    late = {**events[0], "request_id": uuid.uuid4().hex, "timestamp": "2026-10-08T23:30:00.000Z"}
    events.append(late)
    await send(running, events)
    return events


async def test_totals_equal_the_exact_sum_of_the_events_sent(
    running: Running, seeded: list[dict[str, Any]]
) -> None:
    body = await get(running, "/v1/summary", **{"from": FIRST_DAY, "to": LAST_DAY})
    totals = body["totals"]
    assert body["range"] == {
        "from": FIRST_DAY,
        "to": LAST_DAY,
        "timezone": "UTC",
        "source": "day",
    }
    assert totals["requests"] == len(seeded)
    assert dec(totals["cost_usd"]) == total_cost(seeded)
    assert totals["input_tokens"] == sum(e["usage"]["input_tokens"] for e in seeded)
    assert totals["cached_input_tokens"] == sum(
        e["usage"].get("cached_input_tokens", 0) for e in seeded
    )
    assert totals["output_tokens"] == sum(e["usage"]["output_tokens"] for e in seeded)
    assert totals["error_requests"] == sum(e["status"] != "ok" for e in seeded)
    assert totals["cost_per_request_usd"] == ratio(total_cost(seeded), len(seeded))
    # a sub-range: only the events of those days
    part = await get(running, "/v1/summary", **{"from": "2026-10-01", "to": "2026-10-07"})
    inside = in_range(seeded, "2026-10-01", "2026-10-07")
    assert part["totals"]["requests"] == len(inside) > 0
    assert dec(part["totals"]["cost_usd"]) == total_cost(inside)


async def test_previous_period_and_month_over_month(
    running: Running, seeded: list[dict[str, Any]]
) -> None:
    body = await get(running, "/v1/summary", **{"from": "2026-10-08", "to": "2026-10-15"})
    current = total_cost(in_range(seeded, "2026-10-08", "2026-10-15"))
    before = total_cost(in_range(seeded, "2026-09-30", "2026-10-07"))
    prev = body["previous_period"]
    assert (prev["range"]["from"], prev["range"]["to"]) == ("2026-09-30", "2026-10-07")
    assert dec(prev["totals"]["cost_usd"]) == before
    assert prev["change_pct"]["cost_usd"] == percent(current - before, before)

    mom = body["month_over_month"]
    assert (mom["current"]["range"]["from"], mom["current"]["range"]["to"]) == (
        "2026-10-01",
        "2026-10-15",
    )
    assert (mom["previous"]["range"]["from"], mom["previous"]["range"]["to"]) == (
        "2026-09-01",
        "2026-09-15",
    )
    mtd = in_range(seeded, "2026-10-01", "2026-10-15")
    last = in_range(seeded, "2026-09-01", "2026-09-15")
    assert last and mtd
    assert dec(mom["current"]["totals"]["cost_usd"]) == total_cost(mtd)
    assert dec(mom["previous"]["totals"]["cost_usd"]) == total_cost(last)
    assert mom["change_pct"]["requests"] == percent(len(mtd) - len(last), len(last))
    assert mom["change_pct"]["cost_usd"] == percent(
        total_cost(mtd) - total_cost(last), total_cost(last)
    )


async def test_daily_series_is_zero_filled(running: Running) -> None:
    days = ["2026-10-02", "2026-10-03", "2026-10-07"]
    events = [
        event(
            i,
            timestamp=f"{days[i % 3]}T{10 + i % 5:02d}:00:00.000Z",
            provider=("openai", "anthropic")[i % 2],
            model=("gpt-4o", "claude-haiku-4-5")[i % 2],
            usage={"input_tokens": 1000 * (i + 1), "output_tokens": 10 * i},
        )
        for i in range(12)
    ]
    await send(running, events)
    body = await get(
        running, "/v1/series", **{"from": "2026-10-01", "to": "2026-10-08", "group_by": "provider"}
    )
    points = body["points"]
    assert [p["date"] for p in points] == [
        (date(2026, 10, 1) + timedelta(days=i)).isoformat() for i in range(8)
    ]
    summary = await get(running, "/v1/summary", **{"from": "2026-10-01", "to": "2026-10-08"})
    per_day = {p["date"]: p for p in points}
    for day in per_day:
        n = sum(1 for e in events if e["timestamp"].startswith(day))
        assert per_day[day]["requests"] == n
        if n == 0:
            assert per_day[day]["cost_usd"] == "0"
            assert set(per_day[day]["groups"].values()) == {"0"}
        else:
            day_sum = await get(running, "/v1/summary", **{"from": day, "to": day})
            assert per_day[day]["cost_usd"] == day_sum["totals"]["cost_usd"]
            assert sum(dec(v) for v in per_day[day]["groups"].values()) == dec(
                per_day[day]["cost_usd"]
            )
    assert set(body["groups"]) == {"openai", "anthropic"}
    assert sum(dec(p["cost_usd"]) for p in points) == dec(summary["totals"]["cost_usd"]) > 0


DIMENSION_KEYS = {
    "provider": lambda e: e["provider"],
    "model": lambda e: e["model"],
    "customer": lambda e: e["customer_id"],
    "user": lambda e: e["user_id"],
    "feature": lambda e: e["feature"],
    "team": lambda e: e["team"],
    "service": lambda e: e["service"],
    "environment": lambda e: e["environment"],
    "prompt": lambda e: e.get("prompt_key", ""),
    "prompt_version": lambda e: e.get("prompt_version", ""),
    "status": lambda e: e["status"],
}


def as_map(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[int, Decimal]]:
    return {tuple(r["keys"]): (r["requests"], dec(r["cost_usd"])) for r in rows}


async def test_breakdown_by_every_dimension(running: Running, seeded: list[dict[str, Any]]) -> None:
    rng = {"from": FIRST_DAY, "to": LAST_DAY}
    for name, key in DIMENSION_KEYS.items():
        body = await get(running, "/v1/breakdown", by=name, limit=1000, **rng)
        expected = {(k,): v for k, v in group_cost(seeded, key).items()}
        assert as_map(body["rows"]) == expected, name
        costs = [dec(r["cost_usd"]) for r in body["rows"]]
        assert costs == sorted(costs, reverse=True)
        assert body["truncated"] is False
        assert dec(body["totals"]["cost_usd"]) == total_cost(seeded)
    top = await get(running, "/v1/breakdown", by="customer", limit=5, **rng)
    assert len(top["rows"]) == 5 and top["truncated"] is True
    ranked = sorted(group_cost(seeded, DIMENSION_KEYS["customer"]).values(), key=lambda v: -v[1])
    assert [dec(r["cost_usd"]) for r in top["rows"]] == [v[1] for v in ranked[:5]]
    row = top["rows"][0]
    assert row["cost_per_request_usd"] == ratio(dec(row["cost_usd"]), row["requests"])
    assert row["share_pct"] == percent(dec(row["cost_usd"]), total_cost(seeded))


async def test_two_level_breakdown(running: Running, seeded: list[dict[str, Any]]) -> None:
    rng = {"from": FIRST_DAY, "to": LAST_DAY}
    body = await get(running, "/v1/breakdown", by="feature", then="model", limit=1000, **rng)
    assert body["levels"] == ["feature", "model"]
    expected = group_cost(seeded, lambda e: (e["feature"], e["model"]))
    assert as_map(body["rows"]) == expected


async def test_tag_breakdowns_one_and_two_levels(
    running: Running, seeded: list[dict[str, Any]]
) -> None:
    rng = {"from": FIRST_DAY, "to": LAST_DAY}
    body = await get(running, "/v1/breakdown", by="tag:pr", limit=1000, **rng)
    assert body["levels"] == ["tag:pr"]
    expected = {(k,): v for k, v in group_cost(seeded, lambda e: e["tags"].get("pr", "")).items()}
    assert as_map(body["rows"]) == expected
    assert ("",) in expected and len(expected) > 3  # untagged events are their own row

    two = await get(running, "/v1/breakdown", by="tag:pr", then="model", limit=1000, **rng)
    assert as_map(two["rows"]) == group_cost(
        seeded, lambda e: (e["tags"].get("pr", ""), e["model"])
    )
    mixed = await get(running, "/v1/breakdown", by="team", then="tag:region", limit=1000, **rng)
    assert as_map(mixed["rows"]) == group_cost(
        seeded, lambda e: (e["team"], e["tags"].get("region", ""))
    )

    tags = await get(running, "/v1/tags", **rng)
    by_key = {t["key"]: t for t in tags["tags"]}
    assert set(by_key) == {k for e in seeded for k in e["tags"]}
    pr_events = [e for e in seeded if "pr" in e["tags"]]
    assert by_key["pr"]["requests"] == len(pr_events)
    assert dec(by_key["pr"]["cost_usd"]) == total_cost(pr_events)
    assert by_key["pr"]["values"] == len({e["tags"]["pr"] for e in pr_events})


@pytest.mark.parametrize(
    ("timezone", "source"), [("Europe/Berlin", "hour"), ("Asia/Kolkata", "raw")]
)
async def test_ranges_are_local_days_in_the_org_time_zone(
    running: Running, seeded: list[dict[str, Any]], timezone: str, source: str
) -> None:
    r = await running.client.patch(
        "/v1/org", json={"timezone": timezone}, headers=running.org.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == timezone
    first, last = "2026-10-05", "2026-10-12"
    body = await get(running, "/v1/series", **{"from": first, "to": last})
    assert body["range"]["source"] == source
    expected = group_cost(in_range(seeded, first, last, timezone), lambda e: local_day(e, timezone))
    for point in body["points"]:
        n, cost = expected.get(date.fromisoformat(point["date"]), (0, Decimal(0)))
        assert (point["requests"], dec(point["cost_usd"])) == (n, cost), point["date"]
    inside = in_range(seeded, first, last, timezone)
    summary = await get(running, "/v1/summary", **{"from": first, "to": last})
    assert dec(summary["totals"]["cost_usd"]) == total_cost(inside)
    assert summary["totals"]["requests"] == len(inside)
    by_customer = await get(
        running, "/v1/breakdown", by="customer", limit=1000, **{"from": first, "to": last}
    )
    assert as_map(by_customer["rows"]) == {
        (k,): v for k, v in group_cost(inside, lambda e: e["customer_id"]).items()
    }
    by_tag = await get(running, "/v1/breakdown", by="tag:region", **{"from": first, "to": last})
    assert as_map(by_tag["rows"]) == {
        (k,): v for k, v in group_cost(inside, lambda e: e["tags"].get("region", "")).items()
    }
    rng = {"from": first, "to": last}
    pairs = {
        ("feature", "model"): lambda e: (e["feature"], e["model"]),
        ("customer", "model"): lambda e: (e["customer_id"], e["model"]),
        ("tag:pr", "model"): lambda e: (e["tags"].get("pr", ""), e["model"]),
        ("environment", "tag:region"): lambda e: (e["environment"], e["tags"].get("region", "")),
        ("tag:region", "customer"): lambda e: (e["tags"].get("region", ""), e["customer_id"]),
        ("tag:region", "tag:pr"): lambda e: (e["tags"].get("region", ""), e["tags"].get("pr", "")),
    }
    for (by, then), key in pairs.items():
        body = await get(running, "/v1/breakdown", by=by, then=then, limit=1000, **rng)
        assert as_map(body["rows"]) == group_cost(inside, key), (by, then)
    tags = await get(running, "/v1/tags", **rng)
    pr = [e for e in inside if "pr" in e["tags"]]
    assert {t["key"]: (t["requests"], dec(t["cost_usd"])) for t in tags["tags"]}["pr"] == (
        len(pr),
        total_cost(pr),
    )
    compare = await get(running, "/v1/prompts/compare", prompt_key="support-chat", **rng)
    chats = [e for e in inside if e.get("prompt_key") == "support-chat"]
    assert {
        v["prompt_version"]: (v["requests"], dec(v["cost_usd"])) for v in compare["versions"]
    } == (group_cost(chats, lambda e: e["prompt_version"]))
    # the UTC days differ from the local ones: the zone really moved the boundaries
    utc = group_cost(in_range(seeded, first, last), lambda e: local_day(e))
    assert utc != expected


async def test_unpriced_models_are_listed(running: Running) -> None:
    events = [
        event(i, model="brand-new-model", timestamp=f"2026-10-0{1 + i % 3}T08:00:00.000Z")
        for i in range(4)
    ] + [event(9, timestamp="2026-10-02T09:00:00.000Z")]
    await send(running, events)
    body = await get(running, "/v1/unpriced", **{"from": "2026-10-01", "to": "2026-10-05"})
    assert [(m["provider"], m["model"], m["requests"]) for m in body["models"]] == [
        ("openai", "brand-new-model", 4)
    ]
    assert body["models"][0]["first_seen"].startswith("2026-10-01")
    assert body["models"][0]["last_seen"].startswith("2026-10-03")
    summary = await get(running, "/v1/summary", **{"from": "2026-10-01", "to": "2026-10-05"})
    assert summary["totals"]["unpriced_requests"] == 4


async def test_prompt_version_comparison(running: Running, seeded: list[dict[str, Any]]) -> None:
    rng = {"from": FIRST_DAY, "to": LAST_DAY}
    listing = await get(running, "/v1/prompts", **rng)
    expected_keys = group_cost(
        [e for e in seeded if e.get("prompt_key")], lambda e: e["prompt_key"]
    )
    assert {p["prompt_key"]: (p["requests"], dec(p["cost_usd"])) for p in listing["prompts"]} == (
        expected_keys
    )
    body = await get(running, "/v1/prompts/compare", prompt_key="summary", **rng)
    mine = [e for e in seeded if e.get("prompt_key") == "summary"]
    per_version = group_cost(mine, lambda e: e["prompt_version"])
    assert {v["prompt_version"]: (v["requests"], dec(v["cost_usd"])) for v in body["versions"]} == (
        per_version
    )
    per_model = group_cost(mine, lambda e: (e["prompt_version"], e["model"]))
    assert {
        (r["prompt_version"], r["model"]): (r["requests"], dec(r["cost_usd"])) for r in body["rows"]
    } == per_model
    for v in body["versions"]:
        group = [e for e in mine if e["prompt_version"] == v["prompt_version"]]
        assert v["cost_per_request_usd"] == ratio(total_cost(group), len(group))
        assert v["avg_output_tokens"] == ratio(
            sum(e["usage"]["output_tokens"] for e in group), len(group)
        )
        latencies = [e["latency_ms"] for e in group]
        assert min(latencies) <= v["p50_latency_ms"] <= v["p95_latency_ms"] <= max(latencies)
