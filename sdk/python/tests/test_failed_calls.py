"""Failed and cut-off calls the provider bills: recorded with the usage known and a status saying
which (error, timeout, cancelled). Real ``openai``/``anthropic`` packages, loopback fakes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import costobs
import openai
import pytest
from _fakes import READ_TIMEOUT, FakeProvider, Reply, shipped, sse
from costobs._observe import status_of
from test_anthropic import client as anthropic_client
from test_anthropic import stream_events
from test_openai import chat_stream
from test_openai import client as openai_client

KNOWN_AT_START = {  # what message_start reported before the call was cut off
    "input_tokens": 50,
    "cached_input_tokens": 7000,
    "cache_write_5m_tokens": 1000,
    "cache_write_1h_tokens": 2000,
    "output_tokens": 1,
}


def _stalling(frames: list[bytes], stall: float = 3.0) -> Iterator[bytes]:
    """The frames, then silence longer than the client's timeout."""
    yield from frames
    time.sleep(stall)


def _anthropic_frames(count: int) -> list[bytes]:
    """The first ``count`` SSE frames of the Anthropic test stream (message_start first)."""
    reply = stream_events()
    assert isinstance(reply.body, list)
    return reply.body[:count]


def test_status_of_names_timeouts_cancellations_and_errors() -> None:
    request = __import__("httpx").Request("POST", "http://127.0.0.1/")
    assert status_of(openai.APITimeoutError(request)) == "timeout"
    assert status_of(anthropic.APITimeoutError(request)) == "timeout"
    assert status_of(__import__("httpx").ReadTimeout("slow")) == "timeout"
    assert status_of(TimeoutError()) == "timeout"
    assert status_of(GeneratorExit()) == "cancelled"
    assert status_of(openai.APIConnectionError(request=request)) == "error"


def test_provider_error_mid_stream_keeps_the_usage_it_reported(
    provider: FakeProvider, receiver: Any
) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    body = _anthropic_frames(3) + sse([("error", error)])
    provider.replies = [Reply(200, body, {"Content-Type": "text/event-stream"})]
    with pytest.raises(anthropic.APIStatusError):
        for _ in anthropic_client(provider).messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True
        ):
            pass
    (event,) = shipped(receiver, 1)
    assert (event["status"], event["streaming"]) == ("error", True)
    assert event["usage"] == KNOWN_AT_START
    assert Decimal(event["cost_usd"]) > 0  # the input the provider bills is not lost


def test_stream_timing_out_after_generation_started_is_a_timeout_with_known_usage(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [
        Reply(200, _stalling(_anthropic_frames(4)), {"Content-Type": "text/event-stream"})
    ]
    seen = 0
    with pytest.raises(READ_TIMEOUT) as info:  # the transport's read timeout, untouched
        for _ in (
            anthropic_client(provider)
            .with_options(timeout=0.5)
            .messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True)
        ):
            seen += 1
    assert seen == 4 and "Timeout" in type(info.value).__name__
    (event,) = shipped(receiver, 1)
    assert event["status"] == "timeout" and event["usage"] == KNOWN_AT_START
    assert event["time_to_first_token_ms"] >= 0


def test_openai_stream_timing_out_is_a_timeout(provider: FakeProvider, receiver: Any) -> None:
    frames = chat_stream().body
    assert isinstance(frames, list)
    provider.replies = [Reply(200, _stalling(frames[:2]), {"Content-Type": "text/event-stream"})]
    c = openai_client(provider).with_options(timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        list(c.chat.completions.create(model="gpt-4o", messages=[], stream=True))
    (event,) = shipped(receiver, 1)
    assert (event["status"], event["streaming"]) == ("timeout", True)


def test_request_timeout_before_any_answer(provider: FakeProvider, receiver: Any) -> None:
    def slow(method: str, path: str, body: bytes) -> Reply:
        time.sleep(2)
        return Reply(500)

    provider.handler = slow
    with pytest.raises(openai.APITimeoutError):
        openai_client(provider).with_options(timeout=0.3).chat.completions.create(
            model="gpt-4o", messages=[]
        )
    (event,) = shipped(receiver, 1)
    assert (event["status"], event["error_type"], event["usage"]) == (
        "timeout",
        "APITimeoutError",
        {},
    )


def test_caller_closing_a_stream_after_generation_started_is_cancelled_with_known_usage(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [stream_events()]
    stream = anthropic_client(provider).messages.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True
    )
    for index, _ in enumerate(stream):
        if index == 2:
            break
    stream.close()
    (event,) = shipped(receiver, 1)
    assert event["status"] == "cancelled" and event["usage"] == KNOWN_AT_START


async def test_async_stream_timeout(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [
        Reply(200, _stalling(_anthropic_frames(2)), {"Content-Type": "text/event-stream"})
    ]
    c = anthropic_client(provider, is_async=True).with_options(timeout=0.5)
    stream = await c.messages.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True
    )
    with pytest.raises(READ_TIMEOUT) as info:
        async for _ in stream:
            pass
    assert "Timeout" in type(info.value).__name__
    (event,) = shipped(receiver, 1)
    assert event["status"] == "timeout" and event["usage"] == KNOWN_AT_START


def test_record_can_say_a_call_timed_out(receiver: Any) -> None:
    costobs.record("anthropic", "claude-sonnet-4-5", status="timeout", input_tokens=10)
    assert shipped(receiver, 1)[0]["status"] == "timeout"
