"""Raw requests through the real pipeline: filters, keyset pagination (newest first, stable
while new events arrive), one request's details."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import Running, event
from tests.readapi_seed import FIRST_DAY, LAST_DAY, dec, demo_events, send

pytestmark = pytest.mark.timeout(120)
RANGE = {"from": FIRST_DAY, "to": LAST_DAY}


def order_key(e: dict[str, Any]) -> tuple[str, str]:
    return (e["timestamp"][:23], e["request_id"])


async def page_through(running: Running, limit: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        query = {**RANGE, **params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await running.client.get("/v1/requests", params=query, headers=running.org.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


async def test_keyset_pagination_is_newest_first_complete_and_stable(running: Running) -> None:
    events = demo_events(130, 10)
    # ties: several events share one millisecond; the request id breaks the tie
    tie = "2026-10-10T12:00:00.000+00:00"
    events += [event(i, timestamp=tie, request_id=f"tie-{i:02d}") for i in range(7)]
    await send(running, events)
    items = await page_through(running, limit=9)
    expected = sorted(events, key=order_key, reverse=True)
    assert [i["request_id"] for i in items] == [e["request_id"] for e in expected]

    # new events arriving between pages neither repeat nor shift what is left to read
    r = await running.client.get(
        "/v1/requests", params={**RANGE, "limit": 20}, headers=running.org.headers
    )
    first_page = r.json()
    newer = [event(i, timestamp="2026-10-15T17:59:59.999Z") for i in range(3)]
    await send(running, newer)
    rest = await page_through(running, limit=50, cursor=first_page["next_cursor"])
    seen = [i["request_id"] for i in first_page["items"] + rest]
    assert seen == [e["request_id"] for e in expected]


async def test_filters_match_the_events_sent(running: Running) -> None:
    events = demo_events(300, 20)
    for i, e in enumerate(events[:12]):
        e["trace_id"] = f"trace-{i % 3}"
    await send(running, events)
    probe = events[5]
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"provider": "anthropic"}, lambda e: e["provider"] == "anthropic"),
        ({"model": probe["model"]}, lambda e: e["model"] == probe["model"]),
        ({"status": "error"}, lambda e: e["status"] == "error"),
        ({"feature": "chat"}, lambda e: e["feature"] == "chat"),
        ({"customer_id": probe["customer_id"]}, lambda e: e["customer_id"] == probe["customer_id"]),
        ({"user_id": probe["user_id"]}, lambda e: e["user_id"] == probe["user_id"]),
        ({"trace_id": "trace-1"}, lambda e: e.get("trace_id") == "trace-1"),
        ({"environment": "staging"}, lambda e: e["environment"] == "staging"),
        ({"tag": "pr"}, lambda e: "pr" in e["tags"]),
        ({"tag": "region:eu"}, lambda e: e["tags"].get("region") == "eu"),
        (
            {"tag": ["region:eu", "pr"]},
            lambda e: e["tags"].get("region") == "eu" and "pr" in e["tags"],
        ),
        (
            {"provider": "openai", "status": "ok", "team": "support"},
            lambda e: e["provider"] == "openai" and e["status"] == "ok" and e["team"] == "support",
        ),
    ]
    for params, keep in cases:
        items = await page_through(running, limit=100, **params)
        expected = sorted((e for e in events if keep(e)), key=order_key, reverse=True)
        assert [i["request_id"] for i in items] == [e["request_id"] for e in expected], params
        assert 0 < len(expected) < len(events), params  # each case selects some, not all


async def test_list_items_carry_exact_costs_and_the_fields_sent(running: Running) -> None:
    events = demo_events(40, 3)
    await send(running, events)
    items = await page_through(running, limit=500)
    sent = {e["request_id"]: e for e in events}
    for item in items:
        e = sent[item["request_id"]]
        assert dec(item["cost_usd"]) == dec(e["cost_usd"])
        assert item["tags"] == e["tags"]
        assert item["input_tokens"] == e["usage"]["input_tokens"]
        assert item["timestamp"][:19] == e["timestamp"][:19]


async def test_one_requests_details(running: Running) -> None:
    e = event(
        1,
        request_id=f"req-{uuid.uuid4().hex}",
        trace_id="trace-xyz",
        usage={"input_tokens": 1200, "cached_input_tokens": 300, "output_tokens": 80},
        time_to_first_token_ms=40,
        streaming=True,
        tags={"pr": "77", "engineer": "ada"},
    )
    await send(running, [e, event(2)])
    headers = running.org.headers
    r = await running.client.get(f"/v1/requests/{e['request_id']}", headers=headers)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["request_id"] == e["request_id"]
    assert detail["trace_id"] == "trace-xyz"
    assert detail["tags"] == {"pr": "77", "engineer": "ada"}
    assert (detail["input_tokens"], detail["cached_input_tokens"], detail["output_tokens"]) == (
        1200,
        300,
        80,
    )
    assert detail["time_to_first_token_ms"] == 40 and detail["streaming"] is True
    assert dec(detail["sdk_cost_usd"]) == dec(e["cost_usd"])  # the SDK's estimate, kept
    assert dec(detail["cost_usd"]) > 0 and detail["pricing_version"]
    assert detail["timestamp"] == "2026-11-20T10:00:00.000Z"
    # the list's timestamp as a hint finds the same row; a wrong hint still finds it
    for hint in (detail["timestamp"], "2020-01-01T00:00:00Z"):
        hinted = await running.client.get(
            f"/v1/requests/{e['request_id']}", params={"timestamp": hint}, headers=headers
        )
        assert hinted.json() == detail
    missing = await running.client.get("/v1/requests/no-such-request", headers=headers)
    assert missing.status_code == 404
