"""OpenAI clients pointed at a gateway (LiteLLM proxy, Portkey, an in-house one): priced as the
model they name, streamed usage captured, a refused ``stream_options`` never breaks the call.
The real ``openai`` package; the gateway is a loopback fake on a host the SDK does not know."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import costobs
import openai
import pytest
from _fakes import FakeProvider, Reply, json_reply, shipped
from costobs import _config
from costobs._usage.openai import rejects_stream_options
from costobs.integrations import openai as observed_openai
from costobs.pricing import load_price_table
from test_openai import NORMALISED, chat_stream, completion


@pytest.fixture(autouse=True)
def _forget_refusals() -> None:
    """A port of an earlier test's fake may come back: start without learned refusals."""
    observed_openai._REFUSED.clear()


def _client(
    provider: FakeProvider,
    hosts: dict[str, str] | None = None,
    is_async: bool = False,
    **options: Any,
) -> Any:
    current = _config.current()
    costobs.configure(
        ingest_url=current.ingest_url,
        api_key="test-key",
        flush_interval=0.05,
        provider_hosts=hosts or {},
        on_internal_error=current.on_internal_error,  # SDK errors still fail the test
        **options,
    )
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return costobs.wrap(cls(api_key="sk-test", base_url=provider.url + "/v1", max_retries=0))


def _host(provider: FakeProvider) -> str:
    return f"127.0.0.1:{provider.port}"


def test_gateway_call_costs_the_same_as_direct_to_the_digit(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [json_reply(completion(model="gpt-4o-mini")) for _ in range(2)]
    _client(provider).chat.completions.create(model="gpt-4o-mini", messages=[])
    _client(provider, {_host(provider): "openai"}).chat.completions.create(
        model="gpt-4o-mini", messages=[]
    )
    events = shipped(receiver, 2)
    (through_gateway,) = [e for e in events if "gateway_host" in e]
    (direct,) = [e for e in events if "gateway_host" not in e]
    assert through_gateway["provider"] == direct["provider"] == "openai"
    assert through_gateway["gateway_host"] == _host(provider)
    assert through_gateway["canonical_model"] == direct["canonical_model"] == "gpt-4o-mini"
    assert through_gateway["usage"] == direct["usage"] == NORMALISED
    assert Decimal(through_gateway["cost_usd"]) > 0
    assert through_gateway["cost_usd"] == direct["cost_usd"]


def test_routing_prefixed_claude_through_a_gateway_is_priced_as_anthropic(
    provider: FakeProvider, receiver: Any
) -> None:
    usage = {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100}
    provider.replies = [json_reply(completion(usage, model="anthropic/claude-sonnet-4-5"))]
    _client(provider).chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[])
    (event,) = shipped(receiver, 1)
    direct = load_price_table().quote(
        "anthropic", "claude-sonnet-4-5", {"input_tokens": 2000, "output_tokens": 100}
    )
    assert (event["provider"], event["model"], event["canonical_model"]) == (
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "claude-sonnet-4-5",
    )
    assert Decimal(event["cost_usd"]) == direct.cost_usd == Decimal("0.0075")


def test_litellm_cost_header_is_kept_beside_ours(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [
        json_reply(completion(model="gpt-4o-mini"), headers={"x-litellm-response-cost": "1.2e-05"})
    ]
    _client(provider).chat.completions.create(model="gpt-4o-mini", messages=[])
    (event,) = shipped(receiver, 1)
    assert event["gateway"] == "litellm"
    assert Decimal(event["provider_cost_usd"]) == Decimal("0.000012")
    assert event["cost_usd"] != event["provider_cost_usd"]  # ours is the table's, kept apart


def test_gateway_named_by_response_header(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [
        json_reply(completion(model="gpt-4o-mini"), headers={"x-portkey-trace-id": "t-1"})
    ]
    _client(provider).chat.completions.create(model="gpt-4o-mini", messages=[])
    (event,) = shipped(receiver, 1)
    assert event["gateway"] == "portkey" and "provider_cost_usd" not in event


def test_unknown_model_through_a_gateway_stays_unpriced_under_the_gateway_provider(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [json_reply(completion(model="llama-3-70b-inhouse"))]
    _client(provider).chat.completions.create(model="llama-3-70b-inhouse", messages=[])
    (event,) = shipped(receiver, 1)
    assert (event["provider"], event["cost_usd"]) == ("openai_compatible", "0")


def test_gateway_stream_gets_include_usage_and_the_chunk_stays_hidden(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [chat_stream()]
    chunks = list(
        _client(provider).chat.completions.create(model="gpt-4o", messages=[], stream=True)
    )
    assert provider.json_body()["stream_options"] == {"include_usage": True}
    assert len(chunks) == 3  # the injected usage chunk is not the caller's
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED and Decimal(event["cost_usd"]) > 0


def _refusing_gateway(provider: FakeProvider) -> None:
    def handler(method: str, path: str, body: bytes) -> Reply:
        if "stream_options" in json.loads(body):
            error = {"message": "Unrecognized request argument supplied: stream_options"}
            return json_reply({"error": error}, status=400)
        return chat_stream(with_usage=False)

    provider.handler = handler


def test_refused_stream_options_is_retried_once_without_and_remembered(
    provider: FakeProvider, receiver: Any
) -> None:
    _refusing_gateway(provider)
    c = _client(provider)
    first = list(c.chat.completions.create(model="gpt-4o", messages=[], stream=True))
    assert [ch.choices[0].delta.content for ch in first] == ["", "Hel", "lo"]
    assert ["stream_options" in json.loads(r["body"]) for r in provider.requests] == [True, False]
    second = list(c.chat.completions.create(model="gpt-4o", messages=[], stream=True))
    assert len(second) == 3 and len(provider.requests) == 3  # learned: no refused attempt
    assert "stream_options" not in provider.json_body()
    events = shipped(receiver, 2)
    assert all(e["status"] == "ok" and e["streaming"] for e in events)


async def test_async_refused_stream_options_is_retried(
    provider: FakeProvider, receiver: Any
) -> None:
    _refusing_gateway(provider)
    c = _client(provider, is_async=True)
    stream = await c.chat.completions.create(model="gpt-4o", messages=[], stream=True)
    assert len([ch async for ch in stream]) == 3
    assert len(provider.requests) == 2
    (event,) = shipped(receiver, 1)
    assert event["status"] == "ok"


def test_other_bad_requests_reach_the_caller_untouched(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [json_reply({"error": {"message": "messages: field required"}}, 400)]
    with pytest.raises(openai.BadRequestError):
        list(_client(provider).chat.completions.create(model="gpt-4o", messages=[], stream=True))
    assert len(provider.requests) == 1
    (event,) = shipped(receiver, 1)
    assert (event["status"], event["error_type"]) == ("error", "BadRequestError:400")


def test_include_usage_turned_off_for_a_host(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [chat_stream(with_usage=False)]
    c = _client(provider, include_usage_hosts={_host(provider): False})
    assert len(list(c.chat.completions.create(model="gpt-4o", messages=[], stream=True))) == 3
    assert "stream_options" not in provider.json_body()
    assert shipped(receiver, 1)[0]["usage"] == {}


def test_include_usage_hosts_must_be_booleans() -> None:
    with pytest.raises(costobs.ConfigError, match="include_usage_hosts"):
        costobs.configure(include_usage_hosts={"gw.internal": "no"})  # type: ignore[dict-item]


def test_only_a_refusal_naming_the_parameter_counts() -> None:
    assert rejects_stream_options(400, "stream_options is not supported")
    assert rejects_stream_options(422, "include_usage: extra inputs are not permitted")
    assert not rejects_stream_options(500, "stream_options")
    assert not rejects_stream_options(400, "bad messages")
