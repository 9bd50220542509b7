"""The event store on chDB: migrations, rollups that agree with the events, billed_daily."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from consumers.processor import Row, columns
from costobs_server.store import EventStore, load_migrations
from costobs_server.store.columns import EVENT_COLUMNS


def _rows(org: str, n: int, cost: str = "0.000000000000000001") -> list[Row]:
    rows = []
    for i in range(n):
        ts = datetime(2026, 11, 20, i % 24, 30, tzinfo=UTC)
        values = {name: None for name in EVENT_COLUMNS}
        values.update(
            org_id=org,
            request_id=uuid.uuid4().hex,
            timestamp=ts,
            received_at=ts,
            provider="openai",
            model="gpt-4o" if i % 2 else "gpt-4o-mini",
            operation="chat",
            tags={"pr": str(i % 3), "region": "eu"},
            image_size="",
            image_quality="",
            audio_seconds=Decimal(0),
            service_tier="",
            batch=False,
            region="",
            status="ok",
            error_type="",
            latency_ms=100 + i,
            streaming=False,
            cost_usd=Decimal(cost),
            unpriced=False,
            price_entry="",
            pricing_version="t",
            sdk_pricing_version="",
            provider_request_id="",
            sdk_language="python",
            sdk_version="1",
            stream_seq=i,
            prompt_key="summary",
            prompt_version=f"v{i % 2}",
        )
        for name in (
            "customer_id",
            "user_id",
            "trace_id",
            "feature",
            "team",
            "service",
            "environment",
        ):
            values[name] = ""
        for name in EVENT_COLUMNS:
            if values[name] is None and name not in (
                "time_to_first_token_ms",
                "sdk_cost_usd",
                "provider_cost_usd",
            ):
                values[name] = 1
        rows.append(
            Row(org, ts, values["request_id"], tuple(values[c] for c in EVENT_COLUMNS), False)
        )
    return rows


def test_migrations_are_numbered_and_applied_once(store: EventStore) -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert store.migrate() == []  # the session fixture applied them; nothing left
    tables = {r[0] for r in store.query("SHOW TABLES")}
    assert {
        "events",
        "cost_daily",
        "cost_attr_hourly",
        "cost_tag_hourly",
        "prompt_version_daily",
        "billed_daily",
        "schema_migrations",
    } <= tables


def test_rollups_agree_with_events_to_the_last_digit(store: EventStore) -> None:
    org = f"s{uuid.uuid4().hex[:10]}"
    store.insert_events(columns(_rows(org, 48)))
    store.insert_events(columns(_rows(org, 10, cost="1.000000000000000001")))
    expected = 48 * Decimal("0.000000000000000001") + 10 * Decimal("1.000000000000000001")
    p = {"org": org}
    ((events_cost,),) = store.query("SELECT sum(cost_usd) FROM events WHERE org_id={org:String}", p)
    assert events_cost == expected
    for table in ("cost_daily", "cost_attr_hourly", "prompt_version_daily"):
        ((cost, n),) = store.query(
            f"SELECT sum(cost_usd), sum(requests) FROM {table} WHERE org_id={{org:String}}", p
        )
        assert (cost, n) == (expected, 58), table
    by_tag = store.query(
        "SELECT tag_value, sum(requests) FROM cost_tag_hourly WHERE org_id={org:String} "
        "AND tag_key='pr' GROUP BY tag_value ORDER BY tag_value",
        p,
    )
    assert by_tag == [("0", 16 + 4), ("1", 16 + 3), ("2", 16 + 3)]
    summary = store.usage_summary(org, date(2026, 11, 20), date(2026, 11, 20))
    assert summary["requests"] == 58
    assert summary["cost_usd"] == "10.000000000000000058"


def test_existing_events_finds_stored_keys(store: EventStore) -> None:
    org = f"s{uuid.uuid4().hex[:10]}"
    rows = _rows(org, 3)
    store.insert_events(columns(rows[:2]))
    found = store.existing_events((r.org_id, r.timestamp, r.request_id) for r in rows)
    assert found == {(org, rows[0].request_id), (org, rows[1].request_id)}
    assert store.existing_events([]) == set()


def test_billed_daily_accepts_the_documented_sql_and_keeps_sources_apart(
    store: EventStore,
) -> None:
    org = f"s{uuid.uuid4().hex[:10]}"
    store.client.command(
        "INSERT INTO billed_daily (org_id, provider, date, billed_usd, source) "
        f"VALUES ('{org}', 'gemini', '2026-06-01', 12.34, 'import')"
    )
    store.insert_billed([(org, "gemini", date(2026, 6, 1), Decimal("12.5"), "api", "")])
    # a re-sync of the same api row replaces it rather than adding to it
    store.insert_billed([(org, "gemini", date(2026, 6, 1), Decimal("12.51"), "api", "")])
    rows = store.query(
        "SELECT source, billed_usd FROM billed_daily FINAL WHERE org_id={org:String} "
        "ORDER BY source",
        {"org": org},
    )
    assert rows == [("api", Decimal("12.51")), ("import", Decimal("12.34"))]
