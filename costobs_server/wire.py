"""Wire schema v1: what an SDK may send to ``POST /v1/events``.

Every model forbids unknown fields, so there is no place on the wire for prompt or
response content: a field the schema does not know is a per-event rejection that names it.
The JSON Schema published under ``sdk/`` is generated from these models
(``python -m costobs_server.wire > sdk/wire-schema.v1.json``) and pinned by a test.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

SCHEMA_VERSION = 1

MAX_TAGS = 32
MAX_DECIMAL_PLACES = 18

Identifier = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
]
"""Lower-case token: providers, operations, service tiers, SDK languages."""

TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Count = Annotated[int, Field(ge=0, le=10**12)]


def _no_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError("must be a decimal string such as \"0.0125\", not a JSON number")
    return value


def _exact_decimal(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("must be a finite, non-negative decimal")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        raise ValueError(f"has more than {MAX_DECIMAL_PLACES} decimal places")
    return value


# Money and fractional quantities travel as decimal strings: a JSON float is refused.
DecimalString = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    AfterValidator(_exact_decimal),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,20}(\.\d{1,18})?$"}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Usage(_Strict):
    """Normalised usage (DESIGN.md): one meaning in every SDK and in the pricing engine.

    Token fields are disjoint except ``reasoning_tokens``, which is the part of
    ``output_tokens`` that was reasoning (never charged twice). Audio and image tokens are
    not inside ``input_tokens``/``output_tokens``: they have their own fields and rates.
    """

    input_tokens: Count = 0
    """Uncached text input: no cache reads, no cache writes, no audio/image tokens."""
    cached_input_tokens: Count = 0
    """Cache reads."""
    cache_write_5m_tokens: Count = 0
    cache_write_1h_tokens: Count = 0
    cache_write_30m_tokens: Count = 0
    cache_write_12h_tokens: Count = 0
    output_tokens: Count = 0
    """All billed text output, reasoning/thinking included."""
    reasoning_tokens: Count = 0
    """The part of output_tokens that was reasoning."""
    audio_input_tokens: Count = 0
    audio_output_tokens: Count = 0
    image_input_tokens: Count = 0
    image_output_tokens: Count = 0
    images: Count = 0
    """Generated images billed per image (size/quality tiers below)."""
    image_size: Annotated[str, StringConstraints(max_length=32)] | None = None
    image_quality: Annotated[str, StringConstraints(max_length=32)] | None = None
    audio_seconds: DecimalString = Decimal(0)
    characters: Count = 0
    web_search_requests: Count = 0
    tool_requests: Count = 0
    requests: Count = 0
    """Per-request fees (e.g. rerank or search APIs priced per 1k requests)."""

    @field_validator("reasoning_tokens")
    @classmethod
    def _reasoning_inside_output(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        if value > data.get("output_tokens", 0):
            raise ValueError("reasoning_tokens is part of output_tokens and cannot exceed it")
        return value


Status = Literal["ok", "error", "cancelled"]


class Event(_Strict):
    """One observed provider call. Never carries prompt or response content."""

    schema_version: Literal[1] = 1
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    """Client-generated unique id of this call: the idempotency key of the event."""
    timestamp: datetime
    """When the call started (RFC 3339 with offset)."""
    provider: Identifier
    model: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    operation: Identifier = "chat"
    """chat, responses, completion, embedding, image, audio_transcription, audio_speech, …"""

    customer_id: ShortText | None = None
    user_id: ShortText | None = None
    trace_id: ShortText | None = None
    feature: ShortText | None = None
    team: ShortText | None = None
    service: ShortText | None = None
    environment: ShortText | None = None
    prompt_key: ShortText | None = None
    prompt_version: ShortText | None = None
    tags: dict[TagKey, Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=dict, max_length=MAX_TAGS
    )

    usage: Usage = Field(default_factory=Usage)
    service_tier: Identifier | None = None
    batch: bool = False
    region: Annotated[str, StringConstraints(max_length=64)] | None = None

    status: Status = "ok"
    error_type: Annotated[str, StringConstraints(max_length=128)] | None = None
    latency_ms: Annotated[int, Field(ge=0, le=86_400_000)] = 0
    time_to_first_token_ms: Annotated[int, Field(ge=0, le=86_400_000)] | None = None
    streaming: bool = False

    cost_usd: DecimalString | None = None
    """The SDK's local estimate; the writer re-prices and stores both."""
    provider_cost_usd: DecimalString | None = None
    """A cost the provider itself reported (OpenRouter ``usage.cost``, xAI ticks)."""
    pricing_version: Annotated[str, StringConstraints(max_length=64)] | None = None
    provider_request_id: Annotated[str, StringConstraints(max_length=256)] | None = None
    sdk_language: Identifier | None = None
    sdk_version: Annotated[str, StringConstraints(max_length=64)] | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a UTC offset (e.g. 2026-11-26T10:00:00Z)")
        return value


class Batch(BaseModel):
    """The request body; events are validated one by one so a bad one rejects only itself."""

    model_config = ConfigDict(extra="forbid")

    batch_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    events: list[dict[str, object]]


class Rejection(BaseModel):
    index: int
    error: str


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[Rejection]


def json_schema() -> dict[str, object]:
    """The published JSON Schema of one batch whose events are wire v1 events."""
    schema = Event.model_json_schema(mode="validation")
    defs = schema.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://costobs.dev/schemas/wire-v1.json",
        "title": "CostObs ingest batch (wire v1)",
        "type": "object",
        "additionalProperties": False,
        "required": ["batch_id", "events"],
        "properties": {
            "batch_id": {"type": "string", "minLength": 1, "maxLength": 128},
            "events": {"type": "array", "items": {"$ref": "#/$defs/Event"}},
        },
        "$defs": {**defs, "Event": schema},
    }


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
