"""`costobs backfill --format litellm|langfuse`: other tools' exports as exact wire events."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from costobs.pricing import load_price_table

from costobs_server import backfill
from costobs_server.importers import RowError, from_langfuse, from_litellm
from costobs_server.wire import EVENT_ADAPTER
from tests.helpers import Running, eventually

DAY = "2026-11-20"

OPENAI_ROW = {
    "request_id": "chatcmpl-1",
    "call_type": "acompletion",
    "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
    "spend": 1.2345678901234567e-05,
    "total_tokens": 1700,
    "prompt_tokens": 1200,
    "completion_tokens": 500,
    "startTime": "2026-11-20 10:00:00.000",
    "endTime": "2026-11-20 10:00:02.500",
    "completionStartTime": "2026-11-20 10:00:00.400",
    "model": "gpt-4o",
    "custom_llm_provider": "openai",
    "user": "alice",
    "end_user": "cust-7",
    "team_id": "team-uuid",
    "session_id": "sess-1",
    "metadata": json.dumps(
        {
            "user_api_key_team_alias": "payments",
            "user_api_key_alias": "prod-key",
            "spend_logs_metadata": {"feature_flag": "b"},
            "additional_usage_values": {
                "prompt_tokens_details": {"cached_tokens": 800},
                "completion_tokens_details": {"reasoning_tokens": 100},
            },
        }
    ),
    "request_tags": '["pr:1234", "nightly"]',
    "messages": [{"role": "user", "content": "secret prompt"}],
    "response": {"choices": [{"message": {"content": "secret answer"}}]},
    "proxy_server_request": {"body": "secret"},
    "requester_ip_address": "10.0.0.1",
    "cache_hit": "False",
    "status": "success",
}


def test_litellm_row_maps_to_normalised_usage_without_content() -> None:
    event = from_litellm(OPENAI_ROW)
    assert event == {
        "request_id": "litellm:chatcmpl-1",
        "timestamp": "2026-11-20T10:00:00Z",
        "provider": "openai",
        "model": "gpt-4o",
        "operation": "chat",
        "customer_id": "cust-7",
        "user_id": "alice",
        "team": "payments",
        "trace_id": "sess-1",
        "tags": {
            "pr": "1234",
            "nightly": "true",
            "feature_flag": "b",
            "litellm_key_alias": "prod-key",
        },
        "usage": {
            "input_tokens": 400,  # 1200 prompt tokens include the 800 cache reads
            "cached_input_tokens": 800,
            "output_tokens": 500,
            "reasoning_tokens": 100,
        },
        "status": "ok",
        "latency_ms": 2500,
        "time_to_first_token_ms": 400,
        "cost_usd": "0.000012345678901235",  # LiteLLM's double, at the wire's 18 places
        "sdk_language": "import-litellm",
    }
    EVENT_ADAPTER.validate_python(event)  # a valid wire event
    assert "secret" not in json.dumps(event) and "10.0.0.1" not in json.dumps(event)


def test_litellm_anthropic_bedrock_cache_hits_and_failures() -> None:
    anthropic = from_litellm(
        {
            "request_id": "r2",
            "call_type": "completion",
            "startTime": "2026-11-20T10:00:00Z",
            "model": "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "custom_llm_provider": "bedrock",
            "prompt_tokens": 3000,
            "completion_tokens": 50,
            "metadata": {
                "additional_usage_values": {
                    "cache_read_input_tokens": 1000,
                    "cache_creation_input_tokens": 1500,
                }
            },
            "status": "failure",
        }
    )
    assert anthropic["provider"] == "bedrock"
    assert anthropic["model"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert anthropic["usage"] == {
        "input_tokens": 500,
        "cached_input_tokens": 1000,
        "cache_write_5m_tokens": 1500,
        "output_tokens": 50,
    }
    assert anthropic["status"] == "error"

    hit = from_litellm({**OPENAI_ROW, "request_id": "r3", "cache_hit": "True", "spend": 0})
    assert "usage" not in hit and hit["tags"]["cache_hit"] == "true"

    with pytest.raises(RowError, match="startTime"):
        from_litellm({**OPENAI_ROW, "startTime": "yesterday"})
    with pytest.raises(RowError, match="prompt_tokens"):
        from_litellm({**OPENAI_ROW, "prompt_tokens": "12.5"})


def test_langfuse_generation_maps_usage_details_and_skips_spans() -> None:
    generation = {
        "id": "obs-1",
        "traceId": "trace-9",
        "type": "GENERATION",
        "name": "summarize",
        "startTime": "2026-11-20T10:00:00.000Z",
        "endTime": "2026-11-20T10:00:01.200Z",
        "completionStartTime": "2026-11-20T10:00:00.300Z",
        "model": "claude-sonnet-4-5",
        "input": [{"role": "user", "content": "secret prompt"}],
        "output": {"content": "secret answer"},
        "metadata": {"tenant": "acme", "nested": {"x": 1}},
        "usageDetails": {
            "input": 400,
            "cache_read_input_tokens": 600,
            "cache_creation_input_tokens": 200,
            "output": 150,
            "output_reasoning_tokens": 50,
            "total": 1400,
        },
        "costDetails": {"total": 0.0123},
        "promptName": "summary-prompt",
        "promptVersion": 3,
        "environment": "production",
        "level": "DEFAULT",
    }
    event = from_langfuse(generation)
    assert event is not None
    assert event["provider"] == "anthropic" and event["model"] == "claude-sonnet-4-5"
    assert event["usage"] == {
        "input_tokens": 400,
        "cached_input_tokens": 600,
        "cache_write_5m_tokens": 200,
        "output_tokens": 200,  # ours include reasoning; Langfuse keeps it beside output
        "reasoning_tokens": 50,
    }
    assert event["prompt_key"] == "summary-prompt" and event["prompt_version"] == "3"
    assert event["tags"] == {"tenant": "acme"}
    assert event["latency_ms"] == 1200 and event["time_to_first_token_ms"] == 300
    assert event["cost_usd"] == "0.0123"
    EVENT_ADAPTER.validate_python(event)
    assert "secret" not in json.dumps(event)

    assert from_langfuse({**generation, "type": "SPAN"}) is None
    with pytest.raises(RowError, match="model"):
        from_langfuse({**generation, "model": None})


async def test_litellm_export_backfills_at_the_writers_price(
    running: Running, tmp_path: Path
) -> None:
    rows = [
        {**OPENAI_ROW, "request_id": f"chatcmpl-{i}", "prompt_tokens": 1200 + i} for i in range(30)
    ]
    rows.append({**OPENAI_ROW, "request_id": "broken", "startTime": "not a time"})
    path = tmp_path / "spend_logs.json"
    path.write_text(json.dumps(rows))
    summary = await asyncio.to_thread(
        backfill.send,
        running.url,
        running.org.key,
        backfill.read_lines(str(path), "litellm"),
        progress=False,
    )
    assert summary.accepted == 30
    assert summary.rejected == [(31, "startTime: 'not a time' is not an ISO timestamp")]

    table = load_price_table()
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    expected = sum(
        table.quote(
            provider="openai",
            model="gpt-4o",
            usage=from_litellm(row)["usage"],
            at=at,
        ).cost_usd
        for row in rows[:30]
    )

    async def arrived() -> bool:
        return (await running.summary(DAY, DAY))["requests"] >= 30

    await eventually(arrived, within=30)
    summary_now = await running.summary(DAY, DAY)
    assert summary_now["requests"] == 30
    assert Decimal(summary_now["cost_usd"]) == expected
