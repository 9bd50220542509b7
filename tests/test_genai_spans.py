"""GenAI span → wire event mapping (ingest/genai.py), pure: no server."""

from __future__ import annotations

from typing import Any

import pytest

from costobs_server.errors import ConfigError
from costobs_server.wire import validate_event
from ingest.genai import Ignored, SpanMapping, SpanView, parse_attribute_map, to_event

T0 = 1_795_000_000_000_000_000  # 2026-11-18T…Z in ns


def span(attrs: dict[str, Any], **resource: Any) -> SpanView:
    return SpanView(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        start_ns=T0,
        end_ns=T0 + 1_250_000_000,
        error=False,
        attributes=attrs,
        resource=resource,
        scope_version="2.4b0",
    )


def chat(provider: str = "openai", **usage: Any) -> dict[str, Any]:
    return {
        "gen_ai.provider.name": provider,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        **{f"gen_ai.usage.{k}": v for k, v in usage.items()},
    }


def test_openai_counts_include_cache_reads_so_they_are_subtracted() -> None:
    attrs = chat(
        input_tokens=1200,
        output_tokens=300,
        **{"cache_read.input_tokens": 1000, "reasoning.output_tokens": 100},
    )
    event = to_event(span(attrs, **{"service.name": "api"}), SpanMapping())
    assert event["usage"] == {
        "input_tokens": 200,
        "cached_input_tokens": 1000,
        "output_tokens": 300,
        "reasoning_tokens": 100,
    }
    assert event["model"] == "gpt-4o-2024-08-06"  # the model that answered, not the one asked
    assert event["request_id"] == "otel-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"
    assert event["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert event["latency_ms"] == 1250
    assert event["service"] == "api"
    validate_event(event)


def test_anthropic_counts_exclude_the_cache_and_are_kept() -> None:
    attrs = chat(
        "anthropic",
        input_tokens=50,
        output_tokens=10,
        **{"cache_read.input_tokens": 2000, "cache_creation.input_tokens": 300},
    )
    usage = to_event(span(attrs), SpanMapping())["usage"]
    assert usage == {
        "input_tokens": 50,
        "cached_input_tokens": 2000,
        "cache_write_5m_tokens": 300,
        "output_tokens": 10,
    }
    # configured as inclusive, an instrumentation following the newest convention
    inclusive = SpanMapping(input_excludes_cache=frozenset())
    attrs["gen_ai.usage.input_tokens"] = 2350
    assert to_event(span(attrs), inclusive)["usage"]["input_tokens"] == 50


def test_input_smaller_than_the_cache_cannot_include_it() -> None:
    attrs = chat(input_tokens=40, output_tokens=1, **{"cache_read.input_tokens": 900})
    assert to_event(span(attrs), SpanMapping())["usage"]["input_tokens"] == 40


def test_reasoning_outside_output_is_added_and_cache_writes_get_the_provider_ttl() -> None:
    attrs = chat("x_ai", input_tokens=10, output_tokens=5, **{"reasoning.output_tokens": 20})
    event = to_event(span(attrs), SpanMapping())
    assert event["provider"] == "xai"
    assert event["usage"]["output_tokens"] == 25
    attrs = chat(input_tokens=500, output_tokens=5, **{"cache_creation.input_tokens": 400})
    assert to_event(span(attrs), SpanMapping())["usage"]["cache_write_30m_tokens"] == 400


def test_older_names_and_openllmetry_variants() -> None:
    attrs = {
        "gen_ai.system": "Anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.prompt_tokens": 7,
        "gen_ai.usage.completion_tokens": 3,
        "gen_ai.usage.cache_read_input_tokens": 11,
    }
    event = to_event(span(attrs), SpanMapping())
    assert (event["provider"], event["operation"]) == ("anthropic", "chat")
    assert event["usage"] == {"input_tokens": 7, "cached_input_tokens": 11, "output_tokens": 3}


def test_vercel_ai_sdk_counts_the_provider_call_not_its_wrapper() -> None:
    inner = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.provider": "openai.chat",
        "ai.model.id": "gpt-4o-mini",
        "ai.usage.inputTokens": 12,
        "ai.usage.outputTokens": 4,
        "ai.usage.cachedInputTokens": 2,
    }
    event = to_event(span(inner), SpanMapping())
    assert (event["provider"], event["model"]) == ("openai", "gpt-4o-mini")
    assert event["usage"] == {"input_tokens": 10, "cached_input_tokens": 2, "output_tokens": 4}
    outer = {**inner, "ai.operationId": "ai.generateText"}
    with pytest.raises(Ignored):
        to_event(span(outer), SpanMapping())


@pytest.mark.parametrize(
    "attrs",
    [
        {"http.request.method": "GET"},
        {**chat(input_tokens=1), "gen_ai.operation.name": "invoke_agent"},
        {**chat(input_tokens=1), "gen_ai.operation.name": "execute_tool"},
        {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat"},
    ],
)
def test_other_spans_are_ignored(attrs: dict[str, Any]) -> None:
    with pytest.raises(Ignored):
        to_event(span(attrs), SpanMapping())


@pytest.mark.parametrize("bad", [-1, 1.5, "many", True])
def test_nonsense_counts_are_errors_naming_the_attribute(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"gen_ai\.usage\.input_tokens"):
        to_event(span(chat(input_tokens=bad)), SpanMapping())


def test_configured_attributes_map_to_fields_and_tags() -> None:
    mapping = SpanMapping(
        parse_attribute_map(
            '{"app.customer": "customer_id", "enduser.id": "user_id", "app.pr": "tag:pr",'
            ' "app.feature": "feature", "gen_ai.prompt.name": "prompt_key"}'
        )
    )
    attrs = {
        **chat(input_tokens=1, output_tokens=1),
        "app.customer": "cust-9",
        "app.pr": 1234,
        "gen_ai.prompt.name": "summarise-v2",
    }
    event = to_event(
        span(
            attrs, **{"enduser.id": "u-1", "app.feature": "search", "deployment.environment": "x"}
        ),
        mapping,
    )
    assert event["customer_id"] == "cust-9"
    assert event["user_id"] == "u-1"  # from the resource when the span lacks it
    assert event["feature"] == "search"
    assert event["environment"] == "x"
    assert event["prompt_key"] == "summarise-v2"
    assert event["tags"] == {"pr": "1234"}
    validate_event(event)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "not JSON"),
        ('["x"]', "JSON object"),
        ('{"gen_ai.prompt": "tag:p"}', "content"),
        ('{"gen_ai.input.messages": "feature"}', "content"),
        ('{"gen_ai.prompt.0.content": "feature"}', "content"),
        ('{"a": "colour"}', "unknown target"),
        ('{"a": "tag:9bad key"}', "bad tag key"),
    ],
)
def test_bad_attribute_maps_are_refused(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_attribute_map(raw)
