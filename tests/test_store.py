"""The event store on chDB: migrations, rollups that agree with the events, billed_daily."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import orjson

from costobs_server.store import EventStore, load_migrations


def _lines(org: str, n: int, cost: str = "0.000000000000000001") -> bytes:
    """n JSONEachRow events for org, spread over the hours of 2026-11-20."""
    return b"\n".join(
        orjson.dumps(
            {
                "org_id": org,
                "request_id": uuid.uuid4().hex,
                "provider": "openai",
                "model": "gpt-4o" if i % 2 else "gpt-4o-mini",
                "status": "ok",
                "timestamp": f"2026-11-20T{i % 24:02d}:30:00Z",
                "received_at": "2026-11-20T23:59:00Z",
                "tags": {"pr": str(i % 3), "region": "eu"},
                "input_tokens": 1,
                "output_tokens": 1,
                "latency_ms": 100 + i,
                "cost_usd": cost,
                "prompt_key": "summary",
                "prompt_version": f"v{i % 2}",
            }
        )
        for i in range(n)
    )


def test_migrations_are_numbered_and_applied_once(any_store: EventStore) -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1
    any_store.migrate()
    assert any_store.migrate() == []  # applied already: nothing left
    tables = {r[0] for r in any_store.query("SHOW TABLES")}
    assert {
        "events",
        "cost_daily",
        "cost_tag_hourly",
        "cost_pair_daily",
        "cost_pair_half",
        "cost_pair_done",
        "prompt_version_daily",
        "billed_daily",
        "schema_migrations",
    } <= tables
    assert "cost_attr_hourly" not in tables  # dropped by 0007: the pair rollups answer


def test_rollups_agree_with_events_to_the_last_digit(any_store: EventStore) -> None:
    org = f"s{uuid.uuid4().hex[:10]}"
    any_store.insert_events(_lines(org, 48), uuid.uuid4().hex)
    any_store.insert_events(_lines(org, 10, cost="1.000000000000000001"), uuid.uuid4().hex)
    expected = 48 * Decimal("0.000000000000000001") + 10 * Decimal("1.000000000000000001")
    p = {"org": org}
    ((events_cost,),) = any_store.query(
        "SELECT sum(cost_usd) FROM events WHERE org_id={org:String}", p
    )
    assert events_cost == expected
    for table in ("cost_daily", "cost_model_hourly", "prompt_version_daily"):
        ((cost, n),) = any_store.query(
            f"SELECT sum(cost_usd), sum(requests) FROM {table} WHERE org_id={{org:String}}", p
        )
        assert (cost, n) == (expected, 58), table
    by_tag = any_store.query(
        "SELECT tag_value, sum(requests) FROM cost_tag_hourly WHERE org_id={org:String} "
        "AND tag_key='pr' GROUP BY tag_value ORDER BY tag_value",
        p,
    )
    assert by_tag == [("0", 16 + 4), ("1", 16 + 3), ("2", 16 + 3)]
    summary = any_store.usage_summary(org, date(2026, 11, 20), date(2026, 11, 20))
    assert summary["requests"] == 58
    assert summary["cost_usd"] == "10.000000000000000058"


def test_stored_rows_are_found_and_a_repeated_insert_is_stored_once(any_store: EventStore) -> None:
    org = f"s{uuid.uuid4().hex[:10]}"
    any_store.prepare_staging("events_staging_t")

    def line(request_id: str, cost: str) -> bytes:
        return orjson.dumps(
            {
                "org_id": org,
                "request_id": request_id,
                "provider": "openai",
                "model": "gpt-4o",
                "timestamp": "2026-11-20T10:00:00Z",
                "received_at": "2026-11-20T10:00:01Z",
                "cost_usd": cost,
            }
        )

    first = b"\n".join([line("a", "1.5"), line("b", "2")])
    assert any_store.stored_keys(first, "events_staging_t") == set()
    any_store.insert_events(first, f"{org}-first")
    # "a" again (a redelivery or a re-send) with a new "c": only "a" is found stored
    assert any_store.stored_keys(
        b"\n".join([line("a", "1.5"), line("c", "0.25")]), "events_staging_t"
    ) == {(org, "a")}
    any_store.insert_events(line("c", "0.25"), f"{org}-second")
    any_store.insert_events(line("c", "0.25"), f"{org}-second")  # a retry of the same insert
    rows = any_store.query(
        "SELECT request_id, cost_usd FROM events WHERE org_id={o:String} ORDER BY request_id",
        {"o": org},
    )
    assert rows == [("a", Decimal("1.5")), ("b", Decimal(2)), ("c", Decimal("0.25"))]
    ((n, cost),) = any_store.query(
        "SELECT sum(requests), sum(cost_usd) FROM cost_daily WHERE org_id={o:String}", {"o": org}
    )
    assert (n, cost) == (3, Decimal("3.75"))
    assert any_store.query("SELECT count() FROM events_staging_t") == [(0,)]


def test_billed_daily_accepts_the_documented_sql_and_keeps_sources_apart(
    any_store: EventStore,
) -> None:
    org = f"s{uuid.uuid4().hex[:10]}"
    any_store.client.command(
        "INSERT INTO billed_daily (org_id, provider, date, billed_usd, source) "
        f"VALUES ('{org}', 'gemini', '2026-06-01', 12.34, 'import')"
    )
    any_store.insert_billed([(org, "gemini", date(2026, 6, 1), Decimal("12.5"), "api", "")])
    # a re-sync of the same api row replaces it rather than adding to it
    any_store.insert_billed([(org, "gemini", date(2026, 6, 1), Decimal("12.51"), "api", "")])
    rows = any_store.query(
        "SELECT source, billed_usd FROM billed_daily FINAL WHERE org_id={org:String} "
        "ORDER BY source",
        {"org": org},
    )
    assert rows == [("api", Decimal("12.51")), ("import", Decimal("12.34"))]
