"""record(): manual events, priced locally, layered with the active scope; atexit drain."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import costobs
from _fakes import Receiver, shipped


def test_record_prices_locally_and_merges_scope(receiver: Receiver) -> None:
    with costobs.request_context(customer_id="cust-7", team="voice", tags={"exp": "a"}):
        costobs.record(
            provider="elevenlabs",
            model="eleven_multilingual_v2",
            operation="audio",
            characters=1000,
            feature="narration",
            pr="99",
        )
    costobs.record(provider="openai", model="gpt-4o", input_tokens=1000, output_tokens=100)
    costobs.record(provider="openai", model="no-such-model-1", input_tokens=5)
    events = {e["model"]: e for e in shipped(receiver, 3)}
    narration = events["eleven_multilingual_v2"]
    assert narration["usage"] == {"characters": 1000} and narration["operation"] == "audio"
    assert (narration["customer_id"], narration["team"], narration["feature"]) == (
        "cust-7",
        "voice",
        "narration",
    )
    assert narration["tags"] == {"exp": "a", "pr": "99"}
    # prices from the bundled table (2026.11): $2.50/M input + $10/M output for gpt-4o
    assert events["gpt-4o"]["cost_usd"] == "0.0035"
    assert events["gpt-4o"]["pricing_version"]
    assert events["no-such-model-1"]["cost_usd"] == "0"  # unknown models are tracked at $0
    assert narration["cost_usd"] != "0"


def test_record_sends_the_wire_types_whatever_it_was_given(receiver: Receiver) -> None:
    """The server refuses coercible values ("100", 1 for true, 1.0): the SDK converts first,
    and the receiver checks every event against the server's strict wire schema."""
    costobs.record(
        provider="openai",
        model="gpt-4o",
        input_tokens="100",
        output_tokens=7.0,
        batch=1,
        streaming="yes",
        latency_ms=12.7,
        provider_cost_usd=1,
    )
    (event,) = shipped(receiver, 1)
    assert event["usage"] == {"input_tokens": 100, "output_tokens": 7}
    assert (event["batch"], event["streaming"], event["latency_ms"]) == (True, True, 12)
    assert event["provider_cost_usd"] == "1"
    assert not receiver.invalid


def test_disabled_sdk_records_nothing(receiver: Receiver) -> None:
    costobs.configure(ingest_url=receiver.url, api_key="test-key", enabled=False)
    costobs.record(provider="openai", model="gpt-4o", input_tokens=1)
    assert costobs.flush(1.0)
    assert receiver.events == [] and costobs.stats().queued == 0


def test_atexit_drains_without_an_explicit_flush(receiver: Receiver) -> None:
    script = textwrap.dedent(
        f"""
        import costobs
        costobs.configure(ingest_url={receiver.url!r}, api_key="test-key", flush_interval=30)
        costobs.record(provider="deepgram", model="nova-3", operation="audio", audio_seconds="3.25")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    (event,) = receiver.events
    assert event["usage"] == {"audio_seconds": "3.25"} and event["model"] == "nova-3"


def test_record_through_a_gateway_and_across_clouds_ends_like_a_direct_call(
    receiver: Receiver,
) -> None:
    usage = {"input_tokens": 2000, "output_tokens": 100}
    costobs.record(provider="openai_compatible", model="claude-sonnet-4-5", **usage)
    costobs.record(provider="anthropic", model="claude-sonnet-4-5-20250929", **usage)
    costobs.record(provider="bedrock", model="global.anthropic.claude-sonnet-4-5-20250929-v1:0")
    by_model = {e["model"]: e for e in shipped(receiver, 3)}
    gateway, direct = by_model["claude-sonnet-4-5"], by_model["claude-sonnet-4-5-20250929"]
    assert gateway["provider"] == direct["provider"] == "anthropic"
    assert gateway["cost_usd"] == direct["cost_usd"] == "0.0075"
    bedrock = by_model["global.anthropic.claude-sonnet-4-5-20250929-v1:0"]
    assert bedrock["provider"] == "bedrock"
    assert {e["canonical_model"] for e in by_model.values()} == {"claude-sonnet-4-5"}


def test_record_keeps_a_timeout_status(receiver: Receiver) -> None:
    costobs.record(provider="openai", model="gpt-4o", status="timeout", output_tokens=7)
    (event,) = shipped(receiver, 1)
    assert event["status"] == "timeout" and event["usage"] == {"output_tokens": 7}
