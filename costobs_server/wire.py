"""Wire schema v1: what an SDK may send to ``POST /v1/events``.

Every object forbids unknown fields, so there is no place on the wire for prompt or response
content: a field the schema does not know is a per-event rejection that names it.

The schema is written as TypedDicts rather than models: pydantic-core validates them in Rust
without building an object per event (about 4 µs an event against 10–20 µs for a model on
these machines), and the validated dicts go to JetStream as they are. Absent optional fields
take the defaults named in their descriptions (``DEFAULTS`` below); the writer fills them.

Types are strict: a JSON value of another type is refused, never coerced (``"100"``,
``true`` and ``1.0`` are not token counts; a number is not a timestamp). Both of the ingest's
paths — the one-pass batch and the per-event fallback on parsed JSON — validate the same way,
so timestamps are parsed from RFC 3339 text by an explicit check rather than by pydantic's
lax mode (which would also take unix seconds). Dates and timestamps must lie in the supported
range of ``costobs_server.bounds``; the per-event limits that depend on settings (age, clock
skew, quantity and cost caps) are checked by ingest with ``bounds.Admission``.

The JSON Schema published under ``sdk/`` is generated from these types
(``python -m costobs_server.wire > sdk/wire-schema.v1.json``) and pinned by a test.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal, Required

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from costobs_server import bounds
from costobs_server.vocabulary import MAX_TAGS, MAX_TEXT, TAG_KEY

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")]
"""Lower-case token: providers, operations, service tiers, SDK languages."""
TagKey = Annotated[str, StringConstraints(pattern=rf"^{TAG_KEY}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
Count = Annotated[int, Field(ge=0, le=10**12)]
DecimalString = Annotated[str, StringConstraints(pattern=r"^\d{1,20}(\.\d{1,18})?$")]
"""Money and fractional quantities: a decimal string such as "0.0125" (a JSON number is refused,
so no float ever carries a cost)."""

Timestamp = Annotated[
    AwareDatetime,
    Field(strict=False),  # strict parsing takes only datetime objects, never text
    BeforeValidator(bounds.rfc3339_text),
    AfterValidator(bounds.supported_instant),
]
"""RFC 3339 text with an offset, within the supported range (2000-01-01..2099-12-31)."""
Day = Annotated[
    date,
    Field(strict=False),
    BeforeValidator(bounds.iso_day_text),
    AfterValidator(bounds.supported_day),
]
"""YYYY-MM-DD within the supported range."""


def _exactly_one(value: Any) -> Any:
    # Literal[1] alone would take true and 1.0 (they equal 1 in Python), even in strict mode
    if type(value) is not int:
        raise ValueError("Input should be 1")
    return value


SchemaVersion = Annotated[Literal[1], BeforeValidator(_exactly_one)]

_CONFIG = ConfigDict(extra="forbid", use_attribute_docstrings=True, strict=True)


@with_config(_CONFIG)
class Usage(TypedDict, total=False):
    """Normalised usage (DESIGN.md): one meaning in every SDK and in the pricing engine.

    Token fields are disjoint except ``reasoning_tokens``, the part of ``output_tokens`` that
    was reasoning (never charged twice). Audio and image tokens are not inside
    ``input_tokens``/``output_tokens``: they have their own fields and rates. Absent = 0.
    Each quantity of one event is capped by the server (COSTOBS_MAX_EVENT_QUANTITY).
    """

    input_tokens: Count
    """Uncached text input: no cache reads, no cache writes, no audio/image tokens."""
    cached_input_tokens: Count
    """Cache reads."""
    cache_write_5m_tokens: Count
    """Cache writes with a 5-minute TTL (Anthropic, Bedrock default)."""
    cache_write_1h_tokens: Count
    """Cache writes with a 1-hour TTL."""
    cache_write_30m_tokens: Count
    """Cache writes with a 30-minute TTL (OpenAI)."""
    cache_write_12h_tokens: Count
    """Cache writes with a 12-hour TTL (OpenAI extended retention)."""
    output_tokens: Count
    """All billed text output, reasoning/thinking included."""
    reasoning_tokens: Count
    """The part of output_tokens that was reasoning; never more than output_tokens."""
    audio_input_tokens: Count
    audio_output_tokens: Count
    image_input_tokens: Count
    image_output_tokens: Count
    images: Count
    """Generated images billed per image (size/quality tiers)."""
    image_size: Annotated[str, StringConstraints(max_length=32)]
    image_quality: Annotated[str, StringConstraints(max_length=32)]
    audio_seconds: DecimalString
    characters: Count
    web_search_requests: Count
    tool_requests: Count
    requests: Count
    """Per-request fees (e.g. rerank or search APIs priced per 1k requests)."""


def _reasoning_inside_output(usage: Usage) -> Usage:
    if usage.get("reasoning_tokens", 0) > usage.get("output_tokens", 0):
        raise ValueError("reasoning_tokens is part of output_tokens and cannot exceed it")
    return usage


Status = Literal["ok", "error", "cancelled", "timeout"]


@with_config(_CONFIG)
class Event(TypedDict, total=False):
    """One observed provider call. Never carries prompt or response content."""

    schema_version: SchemaVersion
    request_id: Required[Annotated[str, StringConstraints(min_length=1, max_length=128)]]
    """Client-generated unique id of this call: the idempotency key of the event."""
    timestamp: Required[Timestamp]
    """When the call started: RFC 3339 text with offset, dated 2000-01-01..2099-12-31 and
    inside the server's window (COSTOBS_MAX_EVENT_AGE_DAYS back, COSTOBS_MAX_CLOCK_SKEW_S
    ahead)."""
    provider: Required[Identifier]
    model: Required[Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]]
    operation: Identifier
    """chat (default), responses, completion, embedding, image, audio_transcription, …"""

    # the nine dimensions (costobs_server.vocabulary.DIMENSIONS; tests/test_vocabulary.py)
    customer_id: ShortText
    user_id: ShortText
    trace_id: ShortText
    feature: ShortText
    team: ShortText
    service: ShortText
    environment: ShortText
    prompt_key: ShortText
    prompt_version: ShortText
    tags: Annotated[
        dict[TagKey, Annotated[str, StringConstraints(max_length=MAX_TEXT)]],
        Field(max_length=MAX_TAGS),
    ]
    """Free-form attribution: up to 32 key/value pairs."""

    usage: Annotated[Usage, AfterValidator(_reasoning_inside_output)]
    service_tier: Identifier
    """The tier the provider reports it used: default, standard, flex, priority, scale, batch."""
    batch: bool
    """The call ran through a provider batch API (false when absent)."""
    region: Annotated[str, StringConstraints(max_length=64)]

    status: Status
    """ok (default); error (the provider answered with an error), timeout (no complete answer
    in time), cancelled (the caller stopped, e.g. closed a stream): usage known is kept."""
    error_type: Annotated[str, StringConstraints(max_length=128)]
    latency_ms: Annotated[int, Field(ge=0, le=86_400_000)]
    time_to_first_token_ms: Annotated[int, Field(ge=0, le=86_400_000)]
    streaming: bool

    cost_usd: DecimalString
    """The SDK's local estimate; the writer re-prices and stores both. Capped per event by the
    server (COSTOBS_MAX_EVENT_COST_USD), as is provider_cost_usd."""
    provider_cost_usd: DecimalString
    """A cost the provider itself reported (OpenRouter ``usage.cost``, xAI ticks)."""
    pricing_version: Annotated[str, StringConstraints(max_length=64)]
    provider_request_id: Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    sdk_language: Identifier
    sdk_version: Annotated[str, StringConstraints(max_length=64)]

    canonical_model: Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    """The model across clouds (``claude-sonnet-4-5`` for Bedrock/Vertex/Anthropic ids); the
    writer derives it again from the price table, as it re-prices."""
    gateway_host: Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    """The base_url host of a call through a gateway or unknown OpenAI-style host; such an
    event is priced and recorded as the model it names (``PriceTable.quote_call``)."""
    gateway: Identifier
    """A well-known gateway recognised by host or response header: litellm, portkey, …"""


EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_validate_event = EVENT_ADAPTER.validator.validate_python


BatchId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


@with_config(ConfigDict(extra="forbid", strict=True))
class Batch(TypedDict):
    """The request body; events are validated one by one so a bad one rejects only itself."""

    batch_id: BatchId
    events: list[dict[str, Any]]


BATCH_ADAPTER: TypeAdapter[Batch] = TypeAdapter(Batch)


@with_config(ConfigDict(extra="forbid", strict=True))
class ValidBatch(TypedDict):
    """A batch whose events are all valid, parsed and validated in one pass over the JSON:
    the ingest's fast path; any error sends the body to ``Batch`` and per-event validation."""

    batch_id: BatchId
    events: list[Event]


VALID_BATCH_ADAPTER: TypeAdapter[ValidBatch] = TypeAdapter(ValidBatch)


@with_config(ConfigDict(extra="forbid"))
class BillRow(TypedDict, total=False):
    """One provider's bill for one day, from billing sync or an import."""

    provider: Required[Identifier]
    date: Required[Day]
    billed_usd: Required[DecimalString]
    source: Identifier
    """api (billing sync), import (default), demo, …: a sync never overwrites an import."""
    line_item: Annotated[str, StringConstraints(max_length=MAX_TEXT)]


@with_config(ConfigDict(extra="forbid"))
class BillImport(TypedDict):
    bills: Annotated[list[BillRow], Field(min_length=1, max_length=10_000)]


BILLS_ADAPTER: TypeAdapter[BillImport] = TypeAdapter(BillImport)


def validate_event(raw: object) -> Event:
    """A validated event (timestamps parsed) or ``ValueError`` with a message naming fields."""
    try:
        return _validate_event(raw)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ValueError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as one line a person can act on, each naming its field."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "event"
        if err["type"] == "extra_forbidden":
            parts.append(f"{field}: unknown field (the wire has no such field)")
        elif err["type"] == "missing":
            parts.append(f"{field}: required field is missing")
        else:
            parts.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of one batch whose events are wire v1 events."""
    schema = EVENT_ADAPTER.json_schema(mode="validation")
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
