"""anthropic.Anthropic / AsyncAnthropic through the real package, HTTP served by a loopback fake."""

from __future__ import annotations

from typing import Any

import anthropic
import costobs
import pytest
from _fakes import BROKEN_STREAM, FakeProvider, json_reply, shipped, sse_reply

USAGE = {
    "input_tokens": 50,
    "cache_creation_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    "cache_read_input_tokens": 7000,
    "output_tokens": 800,
    "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 1},
    "service_tier": "priority",
}
NORMALISED = {
    "input_tokens": 50,
    "cached_input_tokens": 7000,
    "cache_write_5m_tokens": 1000,
    "cache_write_1h_tokens": 2000,
    "output_tokens": 800,
    "web_search_requests": 3,
    "tool_requests": 1,
}


def message(usage: dict[str, Any] = USAGE) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "hi"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def stream_events(abort: bool = False) -> Any:
    start_usage = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 3000,
        "cache_creation": USAGE["cache_creation"],
        "cache_read_input_tokens": 7000,
        "output_tokens": 1,
        "service_tier": "priority",
    }
    events: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {**message(start_usage), "content": [], "stop_reason": None},
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "let me think"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "Hello"},
            },
        ),
        # cumulative output tokens: the latest value counts, never the sum (400 + 800)
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": None, "stop_sequence": None},
                "usage": {"output_tokens": 400},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 800, "server_tool_use": USAGE["server_tool_use"]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    if abort:
        return sse_reply(events[:7], abort=True)
    return sse_reply(events)


def client(provider: FakeProvider, is_async: bool = False, **defaults: Any) -> Any:
    cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return costobs.wrap(
        cls(api_key="sk-ant-test", base_url=provider.url, max_retries=0), **defaults
    )


def test_create_with_thinking_cache_ttls_tools_and_tier(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [json_reply(message())]
    c = client(provider, team="t")
    result = c.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=10,
        messages=[{"role": "user", "content": "x"}],
        feature="f",
        user_id="u1",
    )
    assert result.content[1].text == "hi"
    assert "feature" not in provider.json_body() and "user_id" not in provider.json_body()
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED
    assert (event["provider"], event["model"], event["service_tier"]) == (
        "anthropic",
        "claude-sonnet-4-5-20250929",
        "priority",
    )
    assert (event["team"], event["feature"], event["user_id"], event["provider_request_id"]) == (
        "t",
        "f",
        "u1",
        "msg_1",
    )


def test_cache_creation_without_ttl_breakdown_is_5m(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [
        json_reply(
            message({"input_tokens": 10, "cache_creation_input_tokens": 300, "output_tokens": 5})
        )
    ]
    client(provider).messages.create(model="claude-3-5-haiku", max_tokens=10, messages=[])
    assert shipped(receiver, 1)[0]["usage"] == {
        "input_tokens": 10,
        "cache_write_5m_tokens": 300,
        "output_tokens": 5,
    }


def test_create_stream_keeps_latest_usage_values(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [stream_events()]
    events = list(
        client(provider).messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True
        )
    )
    assert events[0].type == "message_start" and len(events) == 10
    (event,) = shipped(receiver, 1)
    assert (
        event["usage"] == NORMALISED
        and event["streaming"] is True
        and event["service_tier"] == "priority"
    )


def test_stream_manager_is_observed_with_per_call_metadata(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [stream_events()]
    c = client(provider)
    with c.messages.stream(
        model="claude-sonnet-4-5", max_tokens=10, messages=[], feature="mgr"
    ) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 800
    assert "feature" not in provider.json_body()
    del stream
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED and event["feature"] == "mgr" and event["status"] == "ok"


def test_interrupted_stream_keeps_known_usage(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [stream_events(abort=True)]
    with pytest.raises(BROKEN_STREAM):  # the transport's error, untouched
        for _ in client(provider).messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True
        ):
            pass
    (event,) = shipped(receiver, 1)
    assert event["status"] == "error"
    assert event["usage"] == {
        "input_tokens": 50,
        "cached_input_tokens": 7000,
        "cache_write_5m_tokens": 1000,
        "cache_write_1h_tokens": 2000,
        "output_tokens": 400,
    }


async def test_async_create_and_stream_manager(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(message()), stream_events()]
    c = client(provider, is_async=True)
    async with costobs.request_context(customer_id="a"):
        await c.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[])
        async with c.messages.stream(
            model="claude-sonnet-4-5", max_tokens=10, messages=[]
        ) as stream:
            text = "".join([t async for t in stream.text_stream])
    assert text == "Hello"
    events = shipped(receiver, 2)
    assert all(e["usage"] == NORMALISED and e["customer_id"] == "a" for e in events)


def test_thinking_tokens_breakdown_when_reported(provider: FakeProvider, receiver: Any) -> None:
    usage = {
        "input_tokens": 10,
        "output_tokens": 500,
        "output_tokens_details": {"thinking_tokens": 420},
    }
    provider.replies = [json_reply(message(usage))]
    client(provider).messages.create(model="claude-opus-4-1", max_tokens=10, messages=[])
    assert shipped(receiver, 1)[0]["usage"] == {
        "input_tokens": 10,
        "output_tokens": 500,
        "reasoning_tokens": 420,
    }


def test_with_raw_response_is_observed(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(message(), headers={"request-id": "req_1"}), stream_events()]
    c = client(provider)
    raw = c.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[], feature="raw"
    )
    assert raw.headers["request-id"] == "req_1"
    assert raw.parse().content[1].text == "hi"  # the very object the SDK parsed
    raw = c.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True, feature="raw stream"
    )
    assert len(list(raw.parse())) == 10
    events = {e["feature"]: e for e in shipped(receiver, 2)}
    assert all(e["usage"] == NORMALISED for e in events.values())
    assert events["raw stream"]["streaming"] is True


def test_with_streaming_response_is_observed_when_the_body_is_read(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [json_reply(message()), stream_events(), json_reply(message())]
    c = client(provider)
    sr = c.messages.with_streaming_response
    with sr.create(model="claude-sonnet-4-5", max_tokens=10, messages=[], feature="a") as r:
        assert r.parse().content[1].text == "hi"
    with sr.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True, feature="b"
    ) as r:
        assert len(list(r.parse())) == 10
    with sr.create(model="claude-sonnet-4-5", max_tokens=10, messages=[], feature="c") as r:
        assert r.json()["id"] == "msg_1"  # read whole, never parsed
    events = {e["feature"]: e for e in shipped(receiver, 3)}
    assert all(e["usage"] == NORMALISED for e in events.values())


async def test_async_raw_and_streaming_responses(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(message()), json_reply(message()), stream_events()]
    c = client(provider, is_async=True)
    raw = await c.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[], feature="raw"
    )
    assert raw.http_response.status_code == 200  # observed even if never parsed
    sr = c.messages.with_streaming_response
    async with sr.create(model="claude-sonnet-4-5", max_tokens=10, messages=[], feature="a") as r:
        assert (await r.parse()).content[1].text == "hi"
    async with sr.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True, feature="b"
    ) as r:
        assert len([e async for e in await r.parse()]) == 10
    events = {e["feature"]: e for e in shipped(receiver, 3)}
    assert all(e["usage"] == NORMALISED for e in events.values())


def test_with_options_copy_stays_observed(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(message())]
    c = client(provider, team="t")
    c.with_options(timeout=5).messages.create(model="claude-sonnet-4-5", max_tokens=1, messages=[])
    (event,) = shipped(receiver, 1)
    assert event["team"] == "t" and event["usage"] == NORMALISED
