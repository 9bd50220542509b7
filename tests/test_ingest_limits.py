"""Ingest is strict and bounded: JSON types as the schema says (no coercion), timestamps inside
the server's window, per-event quantity and cost caps — each refusal per event, naming the
field; an admin key may widen the age limit for a backfill."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from costobs_server.bounds import EventLimits, event_limits
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from ingest.routes import _validated
from tests.helpers import Running, event, eventually, running_stack

pytestmark = pytest.mark.timeout(120)

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LIMITS = EventLimits(
    max_age=timedelta(days=30),
    max_skew=timedelta(seconds=300),
    max_quantity=100_000_000,
    max_cost=Decimal("10000"),
)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# (event overrides, the rejection must contain)
OUT_OF_BOUNDS: list[tuple[dict[str, Any], str]] = [
    ({"timestamp": _iso(NOW - timedelta(days=30, seconds=1))}, "older than 30 days"),
    ({"timestamp": _iso(NOW + timedelta(seconds=301))}, "301 s ahead of the server clock"),
    ({"timestamp": "2130-01-01T00:00:00Z"}, "outside the supported range"),
    ({"timestamp": "1974-01-01T00:00:00Z"}, "outside the supported range"),
    ({"usage": {"input_tokens": 100_000_001}}, "usage.input_tokens: 100000001 is over"),
    ({"usage": {"images": 10**12}}, "COSTOBS_MAX_EVENT_QUANTITY"),
    ({"usage": {"audio_seconds": "100000000.5"}}, "usage.audio_seconds: 100000000.5 is over"),
    ({"cost_usd": "10000.000001"}, "cost_usd: 10000.000001 is over the per-event cap of 10000"),
    ({"provider_cost_usd": "1" + "0" * 16}, "provider_cost_usd: 10000000000000000 is over"),
]
WITHIN = [
    {"timestamp": _iso(NOW - timedelta(days=30))},
    {"timestamp": _iso(NOW + timedelta(seconds=300))},
    {"usage": {"input_tokens": 100_000_000, "output_tokens": 3}},
    {"cost_usd": "10000"},
]


def test_limits_hold_the_same_on_both_validation_paths() -> None:
    """The one-pass path (every event schema-valid) and the per-event fallback (one event is
    not) reject the same events with the same words."""
    events = [event(i, **c) for i, (c, _) in enumerate(OUT_OF_BOUNDS)]
    events += [event(100 + i, **c) for i, c in enumerate(WITHIN)]
    one_pass = _validated(orjson.dumps({"batch_id": "b", "events": events}), 1000, LIMITS, NOW)
    schema_bad = event(999, usage={"input_tokens": "100"})
    fallback = _validated(
        orjson.dumps({"batch_id": "b", "events": [*events, schema_bad]}), 1000, LIMITS, NOW
    )
    assert one_pass[1] == fallback[1]  # the accepted events, byte for byte
    assert fallback[2] == [
        *one_pass[2],
        {"index": len(events), "error": "usage.input_tokens: Input should be a valid integer"},
    ]
    assert len(one_pass[1]) == len(WITHIN)
    for (_, words), rejection in zip(OUT_OF_BOUNDS, one_pass[2], strict=True):
        assert words in rejection["error"], (words, rejection)


def test_a_backfill_lifts_only_the_age_limit() -> None:
    settings = load_settings(max_event_age_days=30)
    backfill = event_limits(settings, backfill=True)
    old = event(0, timestamp="2001-02-03T04:05:06Z")
    ahead = event(1, timestamp=_iso(NOW + timedelta(hours=1)))
    costly = event(2, cost_usd="20000")
    body = orjson.dumps({"batch_id": "b", "events": [old, ahead, costly]})
    _, accepted, rejected = _validated(body, 1000, backfill, NOW)
    assert [orjson.loads(a)["request_id"] for a in accepted] == [old["request_id"]]
    assert [r["index"] for r in rejected] == [1, 2]
    _, accepted, rejected = _validated(body, 1000, event_limits(settings), NOW)
    assert not accepted
    assert "COSTOBS_MAX_EVENT_AGE_DAYS; an admin key may backfill" in rejected[0]["error"]


@pytest.fixture
async def strict_running(
    nats_server: NatsServer, data_dir: Path, store: EventStore, tmp_path: Path
) -> AsyncIterator[Running]:
    """A stack with the default window and caps (the shared fixture's window is wide open)."""
    async with running_stack(nats_server, data_dir, tmp_path) as r:
        yield r


async def test_ingest_refuses_coercions_and_out_of_window_events(
    strict_running: Running,
) -> None:
    running = strict_running
    now = datetime.now(UTC)
    good = event(0, timestamp=_iso(now - timedelta(minutes=1)))
    coerced = [
        event(1, usage={"input_tokens": "100"}),
        event(2, usage={"input_tokens": True}),
        event(3, usage={"input_tokens": 1.0}),
        event(4, timestamp=int(now.timestamp())),
        event(5, timestamp="0001-01-01T00:00:00Z"),
        event(6, timestamp="9999-12-31T00:00:00Z"),
        event(7, timestamp=_iso(now - timedelta(days=31))),
        event(8, timestamp=_iso(now + timedelta(hours=1))),
        event(9, cost_usd="1" + "0" * 16),
        event(10, usage={"input_tokens": 10**12}),
    ]
    r = await running.post([good, *coerced])
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 1
    errors = {x["index"]: x["error"] for x in body["rejected"]}
    assert sorted(errors) == list(range(1, 11))
    assert (
        errors[1]
        == errors[2]
        == errors[3]
        == ("usage.input_tokens: Input should be a valid integer")
    )
    assert errors[4].startswith("timestamp: must be an RFC 3339 timestamp")
    assert "0001-01-01 is outside the supported range" in errors[5]
    assert "COSTOBS_MAX_EVENT_AGE_DAYS" in errors[7]
    assert "COSTOBS_MAX_CLOCK_SKEW_S" in errors[8]
    assert "COSTOBS_MAX_EVENT_COST_USD" in errors[9]
    assert "COSTOBS_MAX_EVENT_QUANTITY" in errors[10]

    # only the good event was stored, on its own day
    day = now.date().isoformat()

    async def stored() -> bool:
        r = await running.client.get("/v1/org", headers=running.org.headers)
        return bool(r.json()["has_events"])

    await eventually(stored)
    org = (await running.client.get("/v1/org", headers=running.org.headers)).json()
    first_day = (now - timedelta(minutes=1)).date().isoformat()
    assert (org["first_event_date"], org["last_event_date"]) == (first_day, first_day)
    assert (await running.summary(first_day, day))["requests"] == 1


async def test_backfill_needs_an_admin_key(strict_running: Running) -> None:
    running = strict_running
    db = running.stack.services.db  # type: ignore[union-attr]
    old = event(0, timestamp="2026-01-05T10:00:00Z")
    ingest_only = db.create_key(running.org.id, "app", ("ingest",)).secret
    r = await running.client.post(
        "/v1/events",
        params={"backfill": "true"},
        json={"batch_id": "bf-1", "events": [old]},
        headers={"Authorization": f"Bearer {ingest_only}"},
    )
    assert r.status_code == 403
    assert "admin" in r.json()["detail"]
    plain = await running.post([old])
    assert plain.json()["accepted"] == 0
    admin_only = db.create_key(running.org.id, "ops", ("admin",)).secret  # admin implies ingest
    r = await running.client.post(
        "/v1/events",
        params={"backfill": "true"},
        json={"batch_id": "bf-2", "events": [old]},
        headers={"Authorization": f"Bearer {admin_only}"},
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "duplicates": 0, "rejected": []}

    async def landed() -> bool:
        return (await running.summary("2026-01-05", "2026-01-05"))["requests"] == 1

    await eventually(landed)


async def test_otlp_spans_get_the_same_window_and_caps(strict_running: Running) -> None:
    running = strict_running
    trace = uuid.uuid4().hex
    now_ns = int(datetime.now(UTC).timestamp()) * 10**9

    def span(span_id: str, start_ns: int, input_tokens: int) -> dict[str, Any]:
        attrs = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}
        return {
            "traceId": trace,
            "spanId": span_id,
            "name": "chat",
            "startTimeUnixNano": str(start_ns),
            "endTimeUnixNano": str(start_ns + 10**9),
            "attributes": [
                *({"key": k, "value": {"stringValue": v}} for k, v in attrs.items()),
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(input_tokens)}},
            ],
        }

    spans = [
        span("00f067aa0ba902b7", now_ns, 5),
        span("00f067aa0ba902b8", now_ns - 40 * 86400 * 10**9, 5),  # 40 days old
        span("00f067aa0ba902b9", now_ns, 10**12),
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    r = await running.client.post("/v1/traces", json=body, headers=running.org.headers)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "COSTOBS_MAX_EVENT_AGE_DAYS" in partial["errorMessage"]
    assert "COSTOBS_MAX_EVENT_QUANTITY" in partial["errorMessage"]
