"""The ingest edge against a real nats-server, chDB and SQLite: auth, every rejection path,
partial acceptance, duplicates, and the first read endpoint."""

from __future__ import annotations

import gzip
import uuid
from decimal import Decimal

import orjson

from costobs_server.metadata.db import DEV_KEY
from tests.helpers import Running, event, eventually, new_org

DAY = "2026-11-20"


async def _count(running: Running, expected: int) -> None:
    async def arrived() -> bool:
        return (await running.summary(DAY, DAY))["requests"] >= expected

    await eventually(arrived)


async def test_accepted_events_are_queryable_with_exact_sums(running: Running) -> None:
    events = [event(i, model="no-such-model-xyz", cost_usd="0.1") for i in range(3)]
    r = await running.post(events)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    await _count(running, 3)
    summary = await running.summary(DAY, DAY)
    # an unknown model is kept at $0 (flagged unpriced), never dropped
    assert summary == {
        "requests": 3,
        "cost_usd": "0",
        "input_tokens": 1000 + 1001 + 1002,
        "output_tokens": 300,
        "display": None,  # the org shows USD: no converted figures
    }


async def test_cost_is_the_writers_exact_reprice(running: Running) -> None:
    # gpt-4o: $2.50 / 1M input, $10.00 / 1M output (pricing/prices.yaml)
    events = [
        event(0, usage={"input_tokens": 1_000_000, "output_tokens": 0}),
        event(1, usage={"input_tokens": 3, "output_tokens": 7}),
    ]
    assert (await running.post(events)).status_code == 202
    await _count(running, 2)
    summary = await running.summary(DAY, DAY)
    expected = Decimal("2.5") + Decimal(3) * Decimal("2.5") / 10**6 + Decimal(7) * 10 / 10**6
    assert Decimal(summary["cost_usd"]) == expected
    assert summary["cost_usd"] == "2.5000775"


async def test_partial_acceptance_reports_each_bad_event_by_index(running: Running) -> None:
    events = [event(0), event(1, prompt="secret text"), event(2), event(3, cost_usd=1.5)]
    r = await running.post(events)
    assert r.status_code == 202
    body = r.json()
    assert body["accepted"] == 2
    assert [x["index"] for x in body["rejected"]] == [1, 3]
    assert "prompt: unknown field" in body["rejected"][0]["error"]
    assert "cost_usd" in body["rejected"][1]["error"]
    await _count(running, 2)
    assert (await running.summary(DAY, DAY))["requests"] == 2


async def test_retried_batch_is_stored_once(running: Running) -> None:
    events = [event(i) for i in range(5)]
    first = await running.post(events, batch_id="batch-1")
    again = await running.post(events, batch_id="batch-1")
    assert first.json()["accepted"] == 5
    assert again.status_code == 202
    assert again.json() == {"accepted": 0, "duplicates": 5, "rejected": []}
    await _count(running, 5)


async def test_resent_event_in_another_batch_is_stored_once(running: Running) -> None:
    events = [event(i) for i in range(4)]
    assert (await running.post(events, batch_id="a")).status_code == 202
    await _count(running, 4)
    # the same request ids again, in a new batch, plus one new event
    assert (await running.post([*events[:2], event(9)], batch_id="b")).status_code == 202
    await _count(running, 5)
    writer = running.stack.writer
    assert writer is not None

    async def skipped() -> bool:
        return writer.stats.duplicates >= 2

    await eventually(skipped)
    assert (await running.summary(DAY, DAY))["requests"] == 5


async def test_gzip_body(running: Running) -> None:
    body = gzip.compress(orjson.dumps({"batch_id": "gz", "events": [event(0), event(1)]}))
    r = await running.client.post(
        "/v1/events",
        content=body,
        headers={**running.org.headers, "Content-Encoding": "gzip"},
    )
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2


async def test_auth_missing_bad_and_scopes(running: Running) -> None:
    payload = {"batch_id": "x", "events": [event()]}
    missing = await running.client.post("/v1/events", json=payload)
    assert missing.status_code == 401
    assert "missing API key" in missing.json()["detail"]
    bad = await running.client.post(
        "/v1/events", json=payload, headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401
    assert bad.json()["detail"] == "invalid or revoked API key"
    assert running.stack.services is not None
    ingest_only = new_org(running.stack.services.db, scopes=("ingest",))
    r = await running.client.get(
        "/v1/usage/summary", params={"from": DAY, "to": DAY}, headers=ingest_only.headers
    )
    assert r.status_code == 403
    assert "lacks the 'read' scope" in r.json()["detail"]


async def test_revoked_key_stops_working_within_seconds(running: Running) -> None:
    db = running.org.db
    org = new_org(db)
    assert (await running.post([event()], org=org)).status_code == 202
    key_id = db.list_keys(org.id)[0].id
    assert db.revoke_key(org.id, key_id)

    async def refused() -> bool:
        return (await running.post([event()], org=org)).status_code == 401

    await eventually(refused, within=3)


async def test_dev_key_is_seeded(running: Running) -> None:
    """The dev key belongs to the org ``default`` with every scope: what it sends, it reads."""
    info = running.org.db.lookup(DEV_KEY)
    assert info is not None and info.org_id == "default"
    assert set(info.scopes) == {"ingest", "read", "admin"}
    dev = {"Authorization": f"Bearer {DEV_KEY}"}
    # a day of its own, so other tests' events for the default org do not count here
    day = f"2031-{uuid.uuid4().int % 12 + 1:02d}-{uuid.uuid4().int % 28 + 1:02d}"
    when = f"{day}T09:00:00Z"
    sent = [event(i, timestamp=when) for i in range(3)]
    r = await running.client.post(
        "/v1/events", json={"batch_id": uuid.uuid4().hex, "events": sent}, headers=dev
    )
    assert r.status_code == 202 and r.json()["accepted"] == 3, r.text

    async def seen() -> bool:
        got = await running.client.get(
            "/v1/usage/summary", params={"from": day, "to": day}, headers=dev
        )
        assert got.status_code == 200, got.text
        return bool(got.json()["requests"] == 3)

    await eventually(seen, within=20)
    own = await running.summary(day, day)  # the test's own org sees none of it
    assert own["requests"] == 0


async def test_malformed_bodies_are_400(running: Running) -> None:
    h = running.org.headers
    not_json = await running.client.post("/v1/events", content=b"{nope", headers=h)
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["detail"]
    no_batch = await running.client.post("/v1/events", json={"events": []}, headers=h)
    assert no_batch.status_code == 400
    assert "batch_id" in no_batch.json()["detail"]
    not_list = await running.client.post(
        "/v1/events", json={"batch_id": "x", "events": {}}, headers=h
    )
    assert not_list.status_code == 400
    bad_gzip = await running.client.post(
        "/v1/events", content=b"plain", headers={**h, "Content-Encoding": "gzip"}
    )
    assert bad_gzip.status_code == 400
    assert "gzip" in bad_gzip.json()["detail"]
    brotli = await running.client.post(
        "/v1/events", content=b"{}", headers={**h, "Content-Encoding": "br"}
    )
    assert brotli.status_code == 415


async def test_too_many_events_is_400(running: Running) -> None:
    limit = running.stack.settings.max_batch_events
    events = [{"request_id": str(i)} for i in range(limit + 1)]
    r = await running.post(events)
    assert r.status_code == 400
    assert f"at most {limit}" in r.json()["detail"]


async def test_too_large_body_is_413_sent_or_inflated(running: Running) -> None:
    limit = running.stack.settings.max_body_bytes
    big = {"batch_id": "big", "events": [event(0, model="m" * 200)] * 1000, "pad": "x" * limit}
    raw = await running.client.post(
        "/v1/events", content=orjson.dumps(big), headers=running.org.headers
    )
    assert raw.status_code == 413
    bomb = gzip.compress(b" " * (limit + 10))
    inflated = await running.client.post(
        "/v1/events",
        content=bomb,
        headers={**running.org.headers, "Content-Encoding": "gzip"},
    )
    assert inflated.status_code == 413


async def test_large_batch_is_split_into_messages_and_stored_whole(running: Running) -> None:
    # 1000 events with long attribution values exceed NATS's 1 MiB max_payload
    events = [event(i, trace_id=uuid.uuid4().hex * 7, user_id="u" * 250) for i in range(1000)]
    r = await running.post(events, batch_id="big-one")
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1000
    again = await running.post(events, batch_id="big-one")
    assert again.json() == {"accepted": 0, "duplicates": 1000, "rejected": []}
    await _count(running, 1000)


async def test_summary_validates_dates(running: Running) -> None:
    h = running.org.headers
    r = await running.client.get(
        "/v1/usage/summary", params={"from": "2026-11-21", "to": DAY}, headers=h
    )
    assert r.status_code == 400
    r = await running.client.get(
        "/v1/usage/summary", params={"from": "yesterday", "to": DAY}, headers=h
    )
    assert r.status_code == 422


async def test_orgs_are_isolated(running: Running) -> None:
    other = new_org(running.org.db)
    assert (await running.post([event(0)], org=other)).status_code == 202
    assert (await running.post([event(0), event(1)])).status_code == 202
    await _count(running, 2)

    async def other_arrived() -> bool:
        return (await running.summary(DAY, DAY, org=other))["requests"] == 1

    await eventually(other_arrived)
    assert (await running.summary(DAY, DAY))["requests"] == 2


async def test_health_metrics_and_openapi(running: Running) -> None:
    health = await running.client.get("/healthz")
    assert health.json() == {"status": "ok", "nats": True, "clickhouse": True, "metadata": True}
    assert (await running.post([event()])).status_code == 202
    metrics = (await running.client.get("/metrics")).text
    assert "costobs_ingest_events_accepted_total" in metrics
    spec = (await running.client.get("/openapi.json")).json()
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/WireBatch"}
    event_schema = spec["components"]["schemas"]["WireEvent"]
    assert event_schema["properties"]["usage"]["$ref"] == "#/components/schemas/WireUsage"
    assert "/v1/usage/summary" in spec["paths"]
