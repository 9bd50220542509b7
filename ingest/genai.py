"""OpenTelemetry GenAI spans → wire events. Pure: a decoded span in, an event dict or a reason out.

Which attributes are read (everything else on a span, its events and its links is never
looked at, so prompt and completion content cannot reach an event):

* OpenTelemetry GenAI semantic conventions (status "Development"; moved to the
  ``semantic-conventions-genai`` repository in 2026). ``gen_ai.provider.name`` (since v1.37;
  earlier ``gen_ai.system``), ``gen_ai.operation.name``, ``gen_ai.request.model``,
  ``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.usage.input_tokens`` and
  ``gen_ai.usage.output_tokens`` (since v1.27; earlier ``gen_ai.usage.prompt_tokens`` and
  ``completion_tokens``), ``gen_ai.usage.cache_read.input_tokens``,
  ``gen_ai.usage.cache_creation.input_tokens`` and ``gen_ai.usage.reasoning.output_tokens``
  (the newest; the convention says cache reads and writes SHOULD be included in
  ``input_tokens`` and reasoning in ``output_tokens``), ``openai.response.service_tier``
  (earlier ``gen_ai.openai.response.service_tier``), ``error.type``.
* OpenLLMetry / Traceloop: ``gen_ai.usage.cache_read_input_tokens`` and
  ``cache_creation_input_tokens`` (underscore forms), ``llm.usage.*`` is not needed.
* Vercel AI SDK telemetry: ``ai.model.provider`` (``openai.chat`` …), ``ai.model.id``,
  ``ai.response.model``, ``ai.usage.inputTokens``/``outputTokens``/``reasoningTokens``/
  ``cachedInputTokens`` (v5) and ``ai.usage.promptTokens``/``completionTokens`` (v4), read only
  on the provider-call spans (``ai.operationId`` ending in ``.doGenerate``, ``.doStream`` or
  ``.doEmbed``): the outer ``ai.generateText`` span repeats their sum and would count it twice.

Normalised usage (DESIGN.md): ``input_tokens`` is uncached input. Per the convention and per
OpenAI's, Gemini's and most instrumentations' counts, the span's input count *includes* cache
reads and writes, so they are subtracted. Anthropic's and Bedrock's own APIs report input
*excluding* them, and instrumentations that copy those counts do the same, so for the providers in
``COSTOBS_OTLP_INPUT_EXCLUDES_CACHE`` (default ``anthropic,bedrock``) the count is taken as it
is. Where the input count is smaller than the cache counts it cannot include them, and it is
taken as it is for any provider. Reasoning larger than output (xAI's raw counts) is added to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from costobs_server.errors import ConfigError
from costobs_server.store.columns import TEXT_DIMENSIONS
from costobs_server.vocabulary import TAG_KEY_RE

Scalar = str | int | float | bool

FIELDS = TEXT_DIMENSIONS
"""Our nine first-class attribution fields an attribute may map to (or ``tag:<key>``)."""

DEFAULT_ATTRIBUTE_MAP: dict[str, str] = {
    "service.name": "service",
    "deployment.environment.name": "environment",
    "deployment.environment": "environment",
}

CONTENT_KEYS = re.compile(
    r"^(gen_ai\.(prompt|completion)($|\.\d)"
    r"|gen_ai\.(input\.messages|output\.messages|system_instructions|tool\.call\.arguments"
    r"|tool\.call\.result|tool\.definitions)"
    r"|llm\.(prompts|completions)|ai\.prompt|ai\.response\.(text|object|toolCalls|reasoning)"
    r"|input\.value|output\.value)"
)
"""Attribute keys that carry prompt or completion content: never mapped, even when configured."""

_IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")

PROVIDERS = {
    "aws.bedrock": "bedrock",
    "amazon-bedrock": "bedrock",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "azure-openai": "azure",
    "gcp.gemini": "gemini",
    "gcp.gen_ai": "gemini",
    "google.generative-ai": "gemini",
    "gcp.vertex_ai": "vertex",
    "google.vertex": "vertex",
    "x_ai": "xai",
    "mistral_ai": "mistral",
}
"""Convention (and Vercel) provider names → ours; the rest are lower-cased as they are."""

OPERATIONS = {
    None: "chat",
    "chat": "chat",
    "generate_content": "chat",
    "text_completion": "completion",
    "embeddings": "embedding",
}
"""Inference operations; agent, tool and retrieval spans carry their children's sums."""

_VERCEL_CALLS = (".doGenerate", ".doStream", ".doEmbed")
_VERCEL_OPS = {".doEmbed": "embedding"}

INPUT_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "ai.usage.inputTokens",
    "ai.usage.promptTokens",
)
OUTPUT_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "ai.usage.outputTokens",
    "ai.usage.completionTokens",
)
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "ai.usage.cachedInputTokens",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
REASONING_KEYS = ("gen_ai.usage.reasoning.output_tokens", "ai.usage.reasoningTokens")


@dataclass(frozen=True)
class SpanView:
    """The parts of a span this module reads (decoded by ``ingest.otlp_codec``)."""

    trace_id: str
    span_id: str
    start_ns: int
    end_ns: int
    error: bool
    attributes: Mapping[str, Scalar]
    resource: Mapping[str, Scalar]
    scope_version: str = ""


@dataclass(frozen=True)
class SpanMapping:
    """How spans map onto our fields: attribute key → field name or ``tag:<key>``."""

    attributes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ATTRIBUTE_MAP))
    input_excludes_cache: frozenset[str] = frozenset({"anthropic", "bedrock"})


def parse_attribute_map(raw: str | None) -> dict[str, str]:
    """The defaults plus ``COSTOBS_OTLP_ATTRIBUTE_MAP`` (a JSON object), checked."""
    result = dict(DEFAULT_ATTRIBUTE_MAP)
    if not raw:
        return result
    try:
        given = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"COSTOBS_OTLP_ATTRIBUTE_MAP is not JSON: {exc}") from None
    if not isinstance(given, dict):
        raise ConfigError('COSTOBS_OTLP_ATTRIBUTE_MAP must be a JSON object {"attr": "field"}')
    for key, target in given.items():
        if not isinstance(target, str):
            raise ConfigError(f"COSTOBS_OTLP_ATTRIBUTE_MAP[{key!r}]: target must be a string")
        if CONTENT_KEYS.match(key):
            raise ConfigError(
                f"COSTOBS_OTLP_ATTRIBUTE_MAP[{key!r}]: that attribute carries prompt or "
                "completion content, which is never stored"
            )
        tag = target.removeprefix("tag:")
        if target.startswith("tag:") and not TAG_KEY_RE.match(tag):
            raise ConfigError(f"COSTOBS_OTLP_ATTRIBUTE_MAP[{key!r}]: bad tag key {tag!r}")
        if not target.startswith("tag:") and target not in FIELDS:
            raise ConfigError(
                f"COSTOBS_OTLP_ATTRIBUTE_MAP[{key!r}]: unknown target {target!r} "
                f"(one of {', '.join(FIELDS)} or tag:<key>)"
            )
        result[key] = target
    return result


class Ignored(Exception):
    """Not a GenAI inference span: skipped and counted, not an error."""


def _count(attrs: Mapping[str, Scalar], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if value is None:
            continue
        if isinstance(value, bool):
            raise ValueError(f"{key}: a token count, not {value!r}")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{key}: a whole token count, not {value!r}")
            value = int(value)
        if isinstance(value, str):
            if not value.strip().isdigit():
                raise ValueError(f"{key}: a token count, not {value!r}")
            value = int(value)
        if value < 0:
            raise ValueError(f"{key}: a token count cannot be negative ({value})")
        return value
    return None


def _provider(name: str) -> str:
    name = name.strip().lower()
    return PROVIDERS.get(name, name)


def _text(value: Scalar | None) -> str | None:
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    return str(value)


def identify(attrs: Mapping[str, Scalar]) -> tuple[str, str, str]:
    """(provider, model, operation) of an inference span, or ``Ignored``."""
    op_id = _text(attrs.get("ai.operationId")) or ""
    vercel_call = next((s for s in _VERCEL_CALLS if op_id.endswith(s)), None)
    provider = _text(attrs.get("gen_ai.provider.name")) or _text(attrs.get("gen_ai.system"))
    if provider is None and vercel_call is not None:
        # "openai.chat", "anthropic.messages", "google.generative-ai": the vendor is the head,
        # except for the names we know whole
        raw = _text(attrs.get("ai.model.provider")) or ""
        provider = raw if raw.lower() in PROVIDERS else raw.partition(".")[0]
    if not provider:
        raise Ignored("no gen_ai.provider.name / gen_ai.system")
    if vercel_call is None and op_id:
        raise Ignored("a Vercel AI SDK wrapper span (its provider-call child is counted)")
    op_name = _text(attrs.get("gen_ai.operation.name"))
    if op_name not in OPERATIONS:
        raise Ignored(f"operation {op_name!r} is not an inference call")
    operation = _VERCEL_OPS.get(vercel_call or "", OPERATIONS[op_name])
    model = (
        _text(attrs.get("gen_ai.response.model"))
        or _text(attrs.get("gen_ai.request.model"))
        or _text(attrs.get("ai.response.model"))
        or _text(attrs.get("ai.model.id"))
    )
    if not model:
        raise Ignored("no gen_ai.request.model / gen_ai.response.model")
    return _provider(provider), model, operation


def usage(
    attrs: Mapping[str, Scalar], provider: str, excludes_cache: frozenset[str]
) -> dict[str, int]:
    """Normalised usage (see the module docstring for the inclusive/exclusive rules)."""
    input_ = _count(attrs, INPUT_KEYS) or 0
    output = _count(attrs, OUTPUT_KEYS) or 0
    cached = _count(attrs, CACHE_READ_KEYS) or 0
    written = _count(attrs, CACHE_WRITE_KEYS) or 0
    reasoning = _count(attrs, REASONING_KEYS) or 0
    if provider not in excludes_cache and input_ >= cached + written:
        input_ -= cached + written
    if reasoning > output:
        output += reasoning
    result = {"input_tokens": input_, "output_tokens": output}
    if cached:
        result["cached_input_tokens"] = cached
    if written:
        # the convention has no TTL: each provider's default one (OpenAI 30 min, others 5)
        ttl = (
            "cache_write_30m_tokens" if provider in ("openai", "azure") else "cache_write_5m_tokens"
        )
        result[ttl] = written
    if reasoning:
        result["reasoning_tokens"] = reasoning
    return result


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_event(span: SpanView, mapping: SpanMapping) -> dict[str, Any]:
    """A wire event (not yet validated) for an inference span; ``Ignored`` for other spans;
    ``ValueError`` for a GenAI span whose counts make no sense."""
    attrs = span.attributes
    provider, model, operation = identify(attrs)
    event: dict[str, Any] = {
        # idempotency: the same span re-exported is the same request
        "request_id": f"otel-{span.trace_id}-{span.span_id}",
        "timestamp": _iso(span.start_ns),
        "provider": provider,
        "model": model,
        "operation": operation,
        "trace_id": span.trace_id,
        "usage": usage(attrs, provider, mapping.input_excludes_cache),
        "sdk_language": "otel",
    }
    if span.end_ns >= span.start_ns:
        event["latency_ms"] = (span.end_ns - span.start_ns) // 1_000_000
    if span.error:
        event["status"] = "error"
        event["error_type"] = (_text(attrs.get("error.type")) or "error")[:128]
    response_id = _text(attrs.get("gen_ai.response.id"))
    if response_id:
        event["provider_request_id"] = response_id
    tier = _text(attrs.get("openai.response.service_tier")) or _text(
        attrs.get("gen_ai.openai.response.service_tier")
    )
    if tier and _IDENTIFIER.match(tier):
        event["service_tier"] = tier
    if span.scope_version:
        event["sdk_version"] = span.scope_version[:64]
    tags: dict[str, str] = {}
    for key, target in mapping.attributes.items():
        value = attrs.get(key)
        if value is None:
            value = span.resource.get(key)
        if value is None:
            continue
        text = _text(value) or ""
        if target.startswith("tag:"):
            tags[target[4:]] = text
        else:
            event[target] = text
    if tags:
        event["tags"] = tags
    return event
