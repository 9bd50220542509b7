"""FOCUS export (``GET /v1/export/focus``, ``costobs export focus``) against the real stack: the
column set and types against the spec's (tests/data/focus_1_2_columns.json), the exact split by
usage type, and totals equal to the read API to the last digit."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from costobs_server.cli import main as cli_main
from readapi._focus import NAMES
from tests.helpers import Running, event, eventually

SPEC = json.loads((Path(__file__).parent / "data/focus_1_2_columns.json").read_text())
REQUIRED = {**SPEC["mandatory"], **SPEC["conditional_filled"]}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def _events() -> list[dict[str, Any]]:
    return [
        event(
            0,
            timestamp="2026-11-20T10:00:00Z",
            model="gpt-4o-2024-08-06",
            team="search",
            environment="prod",
            usage={
                "input_tokens": 1000,
                "cached_input_tokens": 2000,
                "output_tokens": 3000,
                "reasoning_tokens": 1000,
            },
        ),
        event(
            1,
            timestamp="2026-11-20T23:30:00Z",
            provider="anthropic",
            model="claude-sonnet-4-5",
            usage={"input_tokens": 100, "cache_write_5m_tokens": 1000, "output_tokens": 10},
        ),
        event(
            2,
            timestamp="2026-11-21T01:00:00Z",
            model="gpt-4o-2024-08-06",
            usage={"input_tokens": 7, "output_tokens": 3, "web_search_requests": 2},
        ),
        event(
            3, timestamp="2026-11-21T02:00:00Z", model="no-such-model", usage={"input_tokens": 5}
        ),
    ]


async def _seed(running: Running) -> None:
    r = await running.post(_events())
    assert r.status_code == 202 and r.json()["accepted"] == 4, r.text

    async def arrived() -> bool:
        return (await running.summary("2026-11-20", "2026-11-21"))["requests"] == 4

    await eventually(arrived)


async def _export(running: Running, fmt: str = "csv", **params: str) -> bytes:
    r = await running.client.get(
        "/v1/export/focus",
        params={"from": "2026-11-19", "to": "2026-11-22", "format": fmt, **params},
        headers=running.org.headers,
    )
    assert r.status_code == 200, r.text
    return r.content


async def _summary_cost(running: Running) -> Decimal:
    r = await running.client.get(
        "/v1/summary",
        params={"from": "2026-11-19", "to": "2026-11-22"},
        headers=running.org.headers,
    )
    assert r.status_code == 200, r.text
    return Decimal(r.json()["totals"]["cost_usd"])


def _csv(body: bytes) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(body.decode()))
    return list(reader.fieldnames or []), list(reader)


async def test_csv_has_the_spec_columns_typed_and_totals_match_the_read_api(
    running: Running,
) -> None:
    await _seed(running)
    header, rows = _csv(await _export(running))
    assert set(REQUIRED) <= set(header), set(REQUIRED) - set(header)
    for row in rows:
        for column, spec in REQUIRED.items():
            value = row[column]
            if value == "":
                assert spec["nullable"], f"{column} must not be null"
                continue
            kind = spec["type"]
            if kind == "Decimal":
                assert DECIMAL.match(value), (column, value)
            elif kind == "Date/Time":
                assert ISO_UTC.match(value), (column, value)
            elif kind == "JSON":
                assert isinstance(json.loads(value), dict)
        for column, allowed in SPEC["allowed_values"].items():
            assert row[column] in allowed, (column, row[column])
        assert row["ChargeClass"] == ""  # null: no correction rows
        assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"]

    total = sum(Decimal(r["BilledCost"]) for r in rows)
    assert total == await _summary_cost(running)  # the exact decimal sum
    assert total == Decimal((await running.summary("2026-11-19", "2026-11-22"))["cost_usd"])

    by_sku = {(r["ChargePeriodStart"], r["SkuId"]): r for r in rows}
    day = "2026-11-20T00:00:00Z"
    # gpt-4o: input $2.50, cached $1.25, output $10 per 1M; reasoning billed as output
    expected = {
        "input": ("1000", "0.0025"),
        "cached_input": ("2000", "0.0025"),
        "output": ("2000", "0.02"),
        "reasoning": ("1000", "0.01"),
    }
    for kind, (quantity, cost) in expected.items():
        row = by_sku[(day, f"openai/gpt-4o-2024-08-06/{kind}")]
        assert (row["ConsumedQuantity"], row["BilledCost"]) == (quantity, cost), kind
        assert row["ConsumedUnit"] == row["PricingUnit"] == "Tokens"
    first = by_sku[(day, "openai/gpt-4o-2024-08-06/input")]
    assert first["ChargePeriodEnd"] == "2026-11-21T00:00:00Z"
    assert first["BillingPeriodStart"] == "2026-11-01T00:00:00Z"
    assert (first["ProviderName"], first["ServiceName"]) == ("OpenAI", "OpenAI API")
    assert json.loads(first["Tags"]) == {
        "team": "search",
        "customer": "cust-0",
        "feature": "summarize",
        "environment": "prod",
        "tags/pr": "100",
    }
    # claude-sonnet-4-5: cache writes (5 min) $3.75 per 1M
    write = by_sku[(day, "anthropic/claude-sonnet-4-5/cache_write")]
    assert (write["ConsumedQuantity"], write["BilledCost"]) == ("1000", "0.00375")
    # web search is priced per 1k requests: an "other" row counted in requests
    other = by_sku[("2026-11-21T00:00:00Z", "openai/gpt-4o-2024-08-06/other")]
    assert (other["ConsumedUnit"], other["ConsumedQuantity"]) == ("Requests", "1")
    assert Decimal(other["BilledCost"]) > 0
    unpriced = by_sku[("2026-11-21T00:00:00Z", "openai/no-such-model/input")]
    assert unpriced["BilledCost"] == "0"


async def test_parquet_types_and_totals(running: Running) -> None:
    await _seed(running)
    table = pq.read_table(io.BytesIO(await _export(running, "parquet")))
    types = {
        "Decimal": pa.decimal128(38, 18),
        "String": pa.string(),
        "JSON": pa.string(),
        "Date/Time": pa.timestamp("ms", tz="UTC"),
    }
    for column, spec in REQUIRED.items():
        assert table.schema.field(column).type == types[spec["type"]], column
        if not spec["nullable"]:
            assert table.column(column).null_count == 0, column
    total = sum(table.column("BilledCost").to_pylist(), Decimal(0))
    assert total == await _summary_cost(running)


async def test_org_time_zone_days_and_events_stored_without_parts(running: Running) -> None:
    await _seed(running)
    r = await running.client.patch(
        "/v1/org", json={"timezone": "Asia/Kolkata"}, headers=running.org.headers
    )
    assert r.status_code == 200, r.text
    # events written before the parts existed: their whole cost in an "other" row
    store = running.stack.services.store  # type: ignore[union-attr]
    await asyncio.to_thread(
        store.client.command,
        "ALTER TABLE events UPDATE cost_input_usd = 0, cost_output_usd = 0, "
        "cost_reasoning_usd = 0, cost_cached_input_usd = 0 "
        f"WHERE org_id = '{running.org.id}' AND provider = 'openai' "
        "SETTINGS mutations_sync = 2",
    )
    await asyncio.sleep(2.5)  # the read API caches the org's time zone for a few seconds
    _, rows = _csv(await _export(running))
    assert sum(Decimal(r["BilledCost"]) for r in rows) == await _summary_cost(running)
    # Kolkata is UTC+5:30: the 23:30Z event belongs to the 21st local day
    starts = {r["ChargePeriodStart"] for r in rows if r["SkuId"].startswith("anthropic/")}
    assert starts == {"2026-11-20T18:30:00Z"}
    unsplit = [r for r in rows if r["SkuId"] == "openai/gpt-4o-2024-08-06/other"]
    assert unsplit and all(Decimal(r["BilledCost"]) > 0 for r in unsplit)


async def test_cli_writes_the_same_dataset(running: Running, tmp_path: Path) -> None:
    await _seed(running)
    out = tmp_path / "focus.csv"
    argv = [
        "export",
        "focus",
        "--from",
        "2026-11-19",
        "--to",
        "2026-11-22",
        "--url",
        running.url,
        "--api-key",
        running.org.key,
        "--output",
        str(out),
    ]
    assert await asyncio.to_thread(cli_main, argv) == 0
    assert out.read_bytes() == await _export(running)
    bad = [*argv[:2], "--from", "2026-11-22", "--to", "2026-11-19", *argv[6:]]
    assert await asyncio.to_thread(cli_main, bad) != 0


async def test_export_needs_the_read_scope_and_a_valid_range(running: Running) -> None:
    r = await running.client.get(
        "/v1/export/focus",
        params={"from": "2026-11-22", "to": "2026-11-19"},
        headers=running.org.headers,
    )
    assert r.status_code == 422 and "from" in r.text
    r = await running.client.get(
        "/v1/export/focus", params={"from": "2026-11-19", "to": "2026-11-19"}
    )
    assert r.status_code == 401
    empty = await running.client.get(
        "/v1/export/focus",
        params={"from": "2020-01-01", "to": "2020-01-02"},
        headers=running.org.headers,
    )
    assert empty.status_code == 200
    assert empty.content.decode() == ",".join(NAMES) + "\n"  # the header, no rows
