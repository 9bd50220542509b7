"""Wire schema v1: what is accepted, what is refused and how the refusal reads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest
from pydantic import ValidationError

from costobs_server.wire import VALID_BATCH_ADAPTER, json_schema, validate_event
from tests.helpers import event

SCHEMA_FILE = Path(__file__).parents[1] / "sdk" / "wire-schema.v1.json"


def test_a_full_event_validates_and_keeps_its_values() -> None:
    raw = event(
        usage={
            "input_tokens": 10,
            "cached_input_tokens": 5,
            "cache_write_1h_tokens": 3,
            "output_tokens": 7,
            "reasoning_tokens": 4,
            "audio_seconds": "12.5",
        },
        service_tier="flex",
        batch=True,
        status="error",
        error_type="RateLimitError",
        streaming=True,
        time_to_first_token_ms=40,
        provider_cost_usd="0.000001",
        team="payments",
        prompt_key="summary",
        prompt_version="v3",
    )
    checked = validate_event(raw)
    assert checked["usage"]["reasoning_tokens"] == 4
    assert checked["usage"]["audio_seconds"] == "12.5"
    assert checked["timestamp"].isoformat() == "2026-11-20T10:00:00+00:00"
    assert checked["provider_cost_usd"] == "0.000001"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": "hello"}, "prompt: unknown field"),
        ({"response": {"text": "x"}}, "response: unknown field"),
        ({"usage": {"input_tokens": 1, "completion": "text"}}, "usage.completion: unknown field"),
        ({"timestamp": "2026-11-20T10:00:00"}, "timestamp: must be an RFC 3339 timestamp"),
        ({"timestamp": 1_763_632_800}, "timestamp: must be an RFC 3339 timestamp"),
        ({"timestamp": "1763632800"}, "timestamp: must be an RFC 3339 timestamp"),
        ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp: 0001-01-01 is outside the supported"),
        ({"timestamp": "9999-12-31T23:59:59+23:59"}, "timestamp: 9999-12-31 is outside"),
        ({"usage": {"input_tokens": "100"}}, "usage.input_tokens: Input should be a valid integer"),
        ({"usage": {"input_tokens": True}}, "usage.input_tokens: Input should be a valid integer"),
        ({"usage": {"input_tokens": 1.0}}, "usage.input_tokens: Input should be a valid integer"),
        ({"latency_ms": "7"}, "latency_ms: Input should be a valid integer"),
        ({"batch": 1}, "batch: Input should be a valid boolean"),
        ({"streaming": "true"}, "streaming: Input should be a valid boolean"),
        ({"schema_version": True}, "schema_version: Input should be 1"),
        ({"schema_version": 1.0}, "schema_version: Input should be 1"),
        ({"customer_id": 42}, "customer_id: Input should be a valid string"),
        ({"cost_usd": 0.25}, "cost_usd: Input should be a valid string"),
        ({"cost_usd": "-1"}, "cost_usd: String should match pattern"),
        ({"cost_usd": "1e-5"}, "cost_usd: String should match pattern"),
        ({"provider": "Open AI"}, "provider: String should match pattern"),
        ({"usage": {"output_tokens": 3, "reasoning_tokens": 4}}, "cannot exceed it"),
        ({"usage": {"input_tokens": -1}}, "usage.input_tokens: Input should be greater than"),
        ({"tags": {"has space": "x"}}, "tags.has space.[key]: String should match pattern"),
        ({"status": "weird"}, "status: Input should be 'ok', 'error', 'cancelled' or 'timeout'"),
    ],
)
def test_bad_events_are_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_event(event(**change))
    assert message in str(caught.value)


@pytest.mark.parametrize("field", ["request_id", "timestamp", "provider", "model"])
def test_required_fields(field: str) -> None:
    raw = event()
    del raw[field]
    with pytest.raises(ValueError, match=f"{field}: required field is missing"):
        validate_event(raw)


def test_too_many_tags_are_refused() -> None:
    with pytest.raises(ValueError, match="tags"):
        validate_event(event(tags={f"k{i}": "v" for i in range(33)}))


def test_published_json_schema_is_current() -> None:
    published = json.loads(SCHEMA_FILE.read_text())
    assert published == json.loads(json.dumps(json_schema())), (
        "sdk/wire-schema.v1.json is stale: run `make schema`"
    )


def test_published_schema_agrees_with_the_server() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    good = {"batch_id": "b", "events": [event()]}
    jsonschema.validate(good, schema)
    for bad in (event(prompt="x"), event(cost_usd=0.1)):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"batch_id": "b", "events": [bad]}, schema)


# Inputs of other JSON types (strings for numbers, numbers for strings, other timestamp forms)
# and refusals: the ingest's one-pass path must agree with per-event validation on every one
# of them — both refuse every coercion (REFUSED_BY_BOTH), both keep the rest byte for byte.
ONE_PASS_CASES = [
    {},
    {"usage": {"input_tokens": "10", "output_tokens": 3}},
    {"usage": {"input_tokens": 10.0}},
    {"usage": {"input_tokens": 10.5}},
    {"batch": "true"},
    {"batch": 1},
    {"streaming": "no"},
    {"latency_ms": 5.0},
    {"latency_ms": "7"},
    {"timestamp": "2026-11-20T10:00:00Z"},
    {"timestamp": "2026-11-20T11:00:00.123456+01:00"},
    {"timestamp": 1_763_632_800},
    {"timestamp": "2026-11-20"},
    {"tags": {"a": 1}},
    {"tags": {"a": "x", "b": "y"}},
    {"customer_id": 42},
    {"cost_usd": "0.000000000000000001"},
    {"cost_usd": 0.25},
    {"schema_version": "1"},
    {"usage": {"audio_seconds": 12.5}},
    {"usage": {"audio_seconds": "12.5"}},
    {"prompt": "hello"},
    {"status": "weird"},
    {"schema_version": 1},
    {"schema_version": True},
    {"timestamp": "1763632800"},
    {"timestamp": "1999-12-31T23:59:59Z"},
    {"timestamp": "2000-01-01T00:00:00+01:00"},
]
ACCEPTED_BY_BOTH = [
    {},
    {"usage": {"input_tokens": 10, "output_tokens": 3}},
    {"batch": True},
    {"timestamp": "2026-11-20T10:00:00Z"},
    {"timestamp": "2026-11-20T11:00:00.123456+01:00"},
    {"tags": {"a": "x", "b": "y"}},
    {"cost_usd": "0.000000000000000001"},
    {"usage": {"audio_seconds": "12.5"}},
    {"schema_version": 1},
    {"timestamp": "2000-01-01T00:00:00+01:00"},  # 1999-12-31 in UTC: the text's date counts
]


@pytest.mark.parametrize("change", ONE_PASS_CASES)
def test_one_pass_batch_validation_agrees_with_per_event_validation(
    change: dict[str, object],
) -> None:
    raw = event(**change)
    body = orjson.dumps({"batch_id": "b", "events": [raw, event(request_id="second")]})
    try:
        one_pass = [orjson.dumps(e) for e in VALID_BATCH_ADAPTER.validate_json(body)["events"]]
    except ValidationError:
        one_pass = None
    try:
        each = [
            orjson.dumps(validate_event(raw)),
            orjson.dumps(validate_event(event(request_id="second"))),
        ]
    except ValueError:
        each = None
    assert one_pass == each
    accepted = {orjson.dumps(c) for c in ACCEPTED_BY_BOTH}  # bytes: in Python, True == 1
    assert (each is not None) == (orjson.dumps(change) in accepted), "coerced or wrongly refused"
