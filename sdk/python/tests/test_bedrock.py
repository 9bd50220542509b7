"""boto3 bedrock-runtime converse / converse_stream against a loopback endpoint_url."""

from __future__ import annotations

from typing import Any

import boto3
import costobs
import pytest
from _fakes import FakeProvider, Reply, eventstream_message, json_reply, shipped
from costobs._usage.bedrock import resolve_model

USAGE = {
    "inputTokens": 40,
    "outputTokens": 250,
    "totalTokens": 5290,
    "cacheReadInputTokens": 3000,
    "cacheWriteInputTokens": 2000,
    "cacheDetails": [{"ttl": "5m", "inputTokens": 500}, {"ttl": "1h", "inputTokens": 1500}],
}


def _botocore_parses_cache_details() -> bool:
    """Older botocore models have no ``cacheDetails``: the TTL split is then invisible."""
    session = boto3.session.Session()
    model = session._session.get_service_model("bedrock-runtime")
    usage = model.operation_model("Converse").output_shape.members["usage"]
    return "cacheDetails" in usage.members


def _metadata_members() -> Any:
    session = boto3.session.Session()
    model = session._session.get_service_model("bedrock-runtime")
    return model.shape_for("ConverseStreamMetadataEvent").members


NORMALISED = {
    "input_tokens": 40,
    "cached_input_tokens": 3000,
    "cache_write_5m_tokens": 500,
    "cache_write_1h_tokens": 1500,
    "output_tokens": 250,
}
if not _botocore_parses_cache_details():
    NORMALISED = {**NORMALISED, "cache_write_5m_tokens": 2000}
    del NORMALISED["cache_write_1h_tokens"]


@pytest.fixture
def bedrock(provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    raw = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=provider.url,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=__import__("botocore.config").config.Config(retries={"total_max_attempts": 1}),
    )
    return costobs.wrap(raw, team="br")


def stream_reply(with_metadata: bool = True) -> Reply:
    messages = [
        eventstream_message("messageStart", {"role": "assistant"}),
        eventstream_message(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}
        ),
        eventstream_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo"}}),
        eventstream_message("contentBlockStop", {"contentBlockIndex": 0}),
        eventstream_message("messageStop", {"stopReason": "end_turn"}),
    ]
    if with_metadata:
        messages.append(
            eventstream_message(
                "metadata",
                {
                    "usage": USAGE,
                    "metrics": {"latencyMs": 120},
                    "serviceTier": {"type": "priority"},
                },
            )
        )
    return Reply(200, messages, {"Content-Type": "application/vnd.amazon.eventstream"})


def test_converse_with_inference_profile(
    provider: FakeProvider, receiver: Any, bedrock: Any
) -> None:
    provider.replies = [
        json_reply(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
                "stopReason": "end_turn",
                "usage": USAGE,
                "metrics": {"latencyMs": 100},
            }
        )
    ]
    result = bedrock.converse(
        modelId="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        messages=[{"role": "user", "content": [{"text": "x"}]}],
        feature="conv",
    )
    assert result["output"]["message"]["content"][0]["text"] == "hi"
    assert (
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
        in provider.requests[0]["path"]
    )
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED
    assert (event["provider"], event["model"], event["region"]) == (
        "bedrock",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us",
    )
    assert (event["team"], event["feature"]) == ("br", "conv")


def test_converse_stream_usage_from_metadata_event(
    provider: FakeProvider, receiver: Any, bedrock: Any
) -> None:
    provider.replies = [stream_reply()]
    response = bedrock.converse_stream(
        modelId="anthropic.claude-3-5-haiku-20241022-v1:0", messages=[]
    )
    events = list(response["stream"])
    assert [next(iter(e)) for e in events] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED and event["streaming"] is True and event["status"] == "ok"
    if "serviceTier" not in _metadata_members():  # older botocore drops it when parsing
        event["service_tier"] = "priority"
    assert (event["model"], event["region"], event["service_tier"]) == (
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "us-east-1",
        "priority",
    )


def test_converse_stream_abandoned_is_cancelled(
    provider: FakeProvider, receiver: Any, bedrock: Any
) -> None:
    provider.replies = [stream_reply()]
    response = bedrock.converse_stream(
        modelId="anthropic.claude-3-5-haiku-20241022-v1:0", messages=[]
    )
    stream = response["stream"]
    next(iter(stream))
    stream.close()
    del stream, response
    (event,) = shipped(receiver, 1)
    assert event["status"] == "cancelled" and event["usage"] == {}


def test_converse_error_is_recorded_and_reraised(
    provider: FakeProvider, receiver: Any, bedrock: Any
) -> None:
    provider.replies = [
        json_reply(
            {"__type": "ThrottlingException", "message": "Too many requests"},
            status=429,
            headers={"x-amzn-ErrorType": "ThrottlingException"},
        )
    ]
    with pytest.raises(bedrock.exceptions.ThrottlingException):
        bedrock.converse(modelId="anthropic.claude-3-5-haiku-20241022-v1:0", messages=[])
    (event,) = shipped(receiver, 1)
    assert event["status"] == "error" and event["error_type"] == "ThrottlingException"


def test_model_id_resolution() -> None:
    assert resolve_model("eu.anthropic.claude-3-7-sonnet-20250219-v1:0") == (
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        "eu",
    )
    assert resolve_model("global.anthropic.claude-sonnet-4-5-20250929-v1:0")[1] == "global"
    assert resolve_model("amazon.nova-pro-v1:0") == ("amazon.nova-pro-v1:0", None)
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
    assert resolve_model(arn) == (arn, None)
    assert resolve_model(arn, {arn: "apac.amazon.nova-lite-v1:0"}) == (
        "amazon.nova-lite-v1:0",
        "apac",
    )
    profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + (
        "us.meta.llama3-3-70b-instruct-v1:0"
    )
    assert resolve_model(profile) == ("meta.llama3-3-70b-instruct-v1:0", "us")


def test_wrapping_another_aws_service_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with pytest.raises(costobs.UnsupportedClientError):
        costobs.wrap(s3)
