"""costobs.wrap(litellm): the real litellm package routed to a loopback fake provider."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of a remote cost map

import costobs
import litellm
import pytest
from _fakes import FakeProvider, json_reply, shipped, sse_reply
from costobs.integrations.litellm import route
from test_anthropic import NORMALISED as ANTHROPIC_NORMALISED
from test_anthropic import message as anthropic_message
from test_openai import NORMALISED, USAGE, chunk, completion

litellm.telemetry = False
# litellm's own typed dicts trip a pydantic UserWarning; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")


@pytest.fixture
def wrapped() -> Any:
    return costobs.wrap(litellm, service="gateway")


def test_routing_prefix() -> None:
    assert route("anthropic/claude-sonnet-4-5") == ("anthropic", "claude-sonnet-4-5")
    assert route("openrouter/anthropic/claude-3.5-sonnet") == (
        "openrouter",
        "anthropic/claude-3.5-sonnet",
    )
    assert route("together_ai/meta-llama/Llama-3-70b") == ("together", "meta-llama/Llama-3-70b")
    assert route("gpt-4o") == (None, "gpt-4o")
    assert route("my-model", "bedrock") == ("bedrock", "my-model")


def test_completion_openai_route(provider: FakeProvider, receiver: Any, wrapped: Any) -> None:
    provider.replies = [json_reply(completion())]
    result = wrapped.completion(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": "x"}],
        api_base=provider.url + "/v1",
        api_key="sk",
        feature="lite",
    )
    assert result.choices[0].message.content == "hi"
    assert "feature" not in provider.json_body()
    (event,) = shipped(receiver, 1)
    assert (event["provider"], event["model"], event["service"], event["feature"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        "gateway",
        "lite",
    )
    assert event["usage"] == NORMALISED


def test_completion_anthropic_route(provider: FakeProvider, receiver: Any, wrapped: Any) -> None:
    provider.replies = [json_reply(anthropic_message())]
    wrapped.completion(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "user", "content": "x"}],
        api_base=provider.url,
        api_key="sk-ant",
        max_tokens=10,
    )
    (event,) = shipped(receiver, 1)
    assert event["provider"] == "anthropic"
    # litellm estimates reasoning tokens from the thinking text itself; the rest is exact
    usage = {k: v for k, v in event["usage"].items() if k != "reasoning_tokens"}
    expected = {k: v for k, v in ANTHROPIC_NORMALISED.items() if k != "tool_requests"}
    if not hasattr(litellm.types.utils, "CacheCreationTokenDetails"):
        # older litellm drops Anthropic's TTL breakdown: every cache write counts as 5m
        expected["cache_write_5m_tokens"] = 3000
        del expected["cache_write_1h_tokens"]
    assert usage == expected
    assert 0 < event["usage"]["reasoning_tokens"] < 800


def test_streaming_injects_usage_and_hides_it(
    provider: FakeProvider, receiver: Any, wrapped: Any
) -> None:
    provider.replies = [
        sse_reply(
            [
                (None, chunk({"role": "assistant", "content": "Hel"})),
                (None, chunk({"content": "lo"}, finish="stop")),
                (None, chunk(None, USAGE)),
                (None, "[DONE]"),
            ]
        )
    ]
    stream = wrapped.completion(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": "x"}],
        api_base=provider.url + "/v1",
        api_key="sk",
        stream=True,
    )
    assert isinstance(stream, litellm.CustomStreamWrapper)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Hello"
    assert all(getattr(c, "usage", None) is None for c in chunks)
    assert provider.json_body()["stream_options"] == {"include_usage": True}
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED and event["streaming"] is True


async def test_acompletion_and_embedding(
    provider: FakeProvider, receiver: Any, wrapped: Any
) -> None:
    provider.replies = [
        json_reply(completion()),
        json_reply(
            {
                "object": "list",
                "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                "usage": {"prompt_tokens": 42, "total_tokens": 42},
            }
        ),
    ]
    async with costobs.request_context(customer_id="lite"):
        await wrapped.acompletion(
            model="openai/gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            api_base=provider.url + "/v1",
            api_key="sk",
        )
    wrapped.embedding(
        model="openai/text-embedding-3-small",
        input=["x"],
        api_base=provider.url + "/v1",
        api_key="sk",
    )
    events = {e["operation"]: e for e in shipped(receiver, 2)}
    assert events["chat"]["usage"] == NORMALISED and events["chat"]["customer_id"] == "lite"
    assert (
        events["embedding"]["usage"] == {"input_tokens": 42}
        and events["embedding"]["provider"] == "openai"
    )


def test_wrap_module_is_idempotent(wrapped: Any) -> None:
    first = litellm.completion
    assert costobs.wrap(litellm) is litellm and litellm.completion is first
