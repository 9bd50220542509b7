"""Rows exported from the two tools users migrate from most, as wire events (pure mapping).

``costobs backfill --format litellm`` reads LiteLLM proxy spend logs (the
``LiteLLM_SpendLogs`` table, as ``/spend/logs`` JSON or a CSV/JSON Lines dump of it);
``--format langfuse`` reads Langfuse generations (observations of type ``GENERATION`` from
``/api/public/observations`` or an export). Each row maps field by field into normalised
usage (DESIGN.md: ``input_tokens`` is uncached input; cache reads, cache writes and reasoning
in their own fields) and the writer re-prices it like any other event.

Never mapped, because they are content or are not ours to keep: LiteLLM ``messages``,
``response``, ``proxy_server_request``, ``requester_ip_address``, ``api_key``; Langfuse
``input``, ``output``, ``metadata`` values that are not strings. What cannot be mapped: LiteLLM
cache hits (the provider was not called: imported with zero usage and tag
``cache_hit=true``), LiteLLM and Langfuse costs (kept as the event's ``cost_usd`` estimate;
the writer prices the usage itself), per-request prices of custom models (unpriced until the
table or an override knows the model), and Langfuse usage keys other than those below.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from costobs_server.pricing_check import normalise_provider
from costobs_server.vocabulary import MAX_TAGS, MAX_TEXT, TAG_KEY_RE, money_text

# LiteLLM call types → our operation.
_LITELLM_OPERATIONS = {
    "completion": "chat",
    "acompletion": "chat",
    "text_completion": "completion",
    "atext_completion": "completion",
    "embedding": "embedding",
    "aembedding": "embedding",
    "image_generation": "image",
    "aimage_generation": "image",
    "transcription": "audio_transcription",
    "atranscription": "audio_transcription",
    "speech": "audio_speech",
    "aspeech": "audio_speech",
    "responses": "responses",
    "aresponses": "responses",
}


class RowError(ValueError):
    """A row that cannot become an event; the message names the field."""


def _json(value: Any, field: str) -> Any:
    """LiteLLM stores some columns as JSON text; an export may give either form."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            raise RowError(f"{field}: not valid JSON") from None
    return value


def _int(value: Any, field: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise RowError(f"{field}: {value!r} is not a count")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RowError(f"{field}: {value!r} is not a count") from None
    if number != number.to_integral_value() or number < 0:
        raise RowError(f"{field}: {value!r} is not a whole non-negative count")
    return int(number)


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise RowError(f"{field}: missing")
    text = value.strip().replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RowError(f"{field}: {value!r} is not an ISO timestamp") from None
    # Both tools store UTC; a timestamp without an offset is read as UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if amount < 0:
        return None
    # A float cost from the other tool (LiteLLM stores a double) rounded to the wire's places.
    return money_text(amount)


def _ms(start: datetime, end: datetime | None) -> int | None:
    if end is None or end < start:
        return None
    return int((end - start).total_seconds() * 1000)


def _tags(pairs: dict[str, Any]) -> dict[str, str]:
    """Keys the wire accepts as tag keys, scalar values as text; the rest is left out."""
    tags: dict[str, str] = {}
    for key, value in pairs.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        if not TAG_KEY_RE.match(str(key)):
            continue
        if len(tags) < MAX_TAGS:
            tags[str(key)] = str(value)[:MAX_TEXT]
    return tags


def _model(provider: str, model: str) -> str:
    """LiteLLM model names may carry the routing prefix ("bedrock/us.anthropic.…")."""
    first, _, rest = model.partition("/")
    if rest and normalise_provider(first) == provider:
        return rest
    return model


def _clean(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if v not in (None, "", {})}


# -- LiteLLM ------------------------------------------------------------------------


def from_litellm(row: dict[str, Any]) -> dict[str, Any]:
    """One ``LiteLLM_SpendLogs`` row → a wire event."""
    request_id = row.get("request_id")
    if not request_id:
        raise RowError("request_id: missing")
    start = _timestamp(row.get("startTime") or row.get("start_time"), "startTime")
    end_text = row.get("endTime") or row.get("end_time")
    end = _timestamp(end_text, "endTime") if end_text else None
    first_text = row.get("completionStartTime")
    first = _timestamp(first_text, "completionStartTime") if first_text else None
    model_text = str(row.get("model") or "")
    if not model_text:
        raise RowError("model: missing")
    provider = normalise_provider(
        str(row.get("custom_llm_provider") or model_text.partition("/")[0] or "unknown")
    )
    metadata = _json(row.get("metadata"), "metadata") or {}
    if not isinstance(metadata, dict):
        raise RowError("metadata: not a JSON object")
    extra = metadata.get("additional_usage_values") or {}
    usage_object = metadata.get("usage_object") or {}
    details = {**(usage_object if isinstance(usage_object, dict) else {}), **extra}

    # LiteLLM's usage is OpenAI-shaped: prompt_tokens includes cache reads and writes.
    prompt = _int(row.get("prompt_tokens"), "prompt_tokens")
    completion = _int(row.get("completion_tokens"), "completion_tokens")
    ptd = details.get("prompt_tokens_details") or {}
    ctd = details.get("completion_tokens_details") or {}
    cached = _int(details.get("cache_read_input_tokens") or ptd.get("cached_tokens"), "cached")
    written = _int(details.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    reasoning = _int(ctd.get("reasoning_tokens"), "reasoning_tokens")
    cache_hit = str(row.get("cache_hit") or "").lower() == "true"
    usage = {
        "input_tokens": max(prompt - cached - written, 0),
        "cached_input_tokens": cached,
        "cache_write_5m_tokens": written,
        "output_tokens": completion,
        "reasoning_tokens": min(reasoning, completion),
    }
    usage = {k: v for k, v in usage.items() if v}
    if cache_hit:  # answered from LiteLLM's cache: no provider call, nothing billed
        usage = {}

    tags: dict[str, str] = {}
    request_tags = _json(row.get("request_tags"), "request_tags") or []
    for tag in request_tags if isinstance(request_tags, list) else []:
        key, sep, value = str(tag).partition(":")
        tags.update(_tags({key: value if sep else "true"}))
    spend_meta = metadata.get("spend_logs_metadata") or {}
    if isinstance(spend_meta, dict):
        tags.update(_tags(spend_meta))
    if metadata.get("user_api_key_alias"):
        tags.update(_tags({"litellm_key_alias": metadata["user_api_key_alias"]}))
    if cache_hit:
        tags["cache_hit"] = "true"

    status = str(row.get("status") or metadata.get("status") or "success").lower()
    duration = row.get("request_duration_ms")
    return _clean(
        {
            "request_id": f"litellm:{request_id}",
            "timestamp": _iso(start),
            "provider": provider,
            "model": _model(provider, model_text),
            "operation": _LITELLM_OPERATIONS.get(str(row.get("call_type") or ""), "chat"),
            "customer_id": row.get("end_user") or None,
            "user_id": row.get("user") or metadata.get("user_api_key_user_id") or None,
            "team": metadata.get("user_api_key_team_alias") or row.get("team_id") or None,
            "trace_id": row.get("session_id") or None,
            "tags": tags,
            "usage": usage,
            "status": "ok" if status == "success" else "error",
            "latency_ms": _int(duration, "request_duration_ms")
            if duration not in (None, "")
            else _ms(start, end),
            "time_to_first_token_ms": _ms(start, first) if first else None,
            "cost_usd": _money(row.get("spend")),
            "sdk_language": "import-litellm",
        }
    )


# -- Langfuse -----------------------------------------------------------------------

# usageDetails key → our usage field. Langfuse sums every key into ``total``, so each key is
# an exclusive part: ``input`` is uncached input, reasoning sits beside ``output``.
_LANGFUSE_USAGE = {
    "input": "input_tokens",
    "input_cached_tokens": "cached_input_tokens",
    "cache_read_input_tokens": "cached_input_tokens",
    "input_cache_read": "cached_input_tokens",
    "cache_creation_input_tokens": "cache_write_5m_tokens",
    "input_cache_creation": "cache_write_5m_tokens",
    "input_audio_tokens": "audio_input_tokens",
    "output": "output_tokens",
    "output_reasoning_tokens": "reasoning_tokens",
    "output_reasoning": "reasoning_tokens",
    "output_audio_tokens": "audio_output_tokens",
}


def from_langfuse(row: dict[str, Any]) -> dict[str, Any] | None:
    """One Langfuse observation → a wire event; ``None`` for observations that are not
    generations (spans, events): they carry no model usage."""
    kind = str(row.get("type") or "GENERATION").upper()
    if kind not in ("GENERATION", "EMBEDDING"):
        return None
    observation_id = row.get("id")
    if not observation_id:
        raise RowError("id: missing")
    start = _timestamp(row.get("startTime"), "startTime")
    end = _timestamp(row["endTime"], "endTime") if row.get("endTime") else None
    first_text = row.get("completionStartTime")
    first = _timestamp(first_text, "completionStartTime") if first_text else None
    model = str(row.get("model") or "")
    if not model:
        raise RowError("model: missing (a generation without a model cannot be priced)")
    raw_metadata = row.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    provider_hint = metadata.get("ls_provider") or metadata.get("provider")
    provider = normalise_provider(str(provider_hint or _provider_from_model(model)))

    details = row.get("usageDetails") or {}
    if not details and isinstance(row.get("usage"), dict):  # older exports: usage{input,output}
        details = {k: v for k, v in row["usage"].items() if k in ("input", "output")}
    usage: dict[str, int] = {}
    for key, value in details.items():
        field = _LANGFUSE_USAGE.get(key)
        if field:
            usage[field] = usage.get(field, 0) + _int(value, f"usageDetails.{key}")
    # Our output_tokens include reasoning (DESIGN.md); Langfuse keeps it apart.
    if usage.get("reasoning_tokens"):
        usage["output_tokens"] = usage.get("output_tokens", 0) + usage["reasoning_tokens"]
    usage = {k: v for k, v in usage.items() if v}

    cost = row.get("costDetails") or {}
    level = str(row.get("level") or "DEFAULT").upper()
    return _clean(
        {
            "request_id": f"langfuse:{observation_id}",
            "timestamp": _iso(start),
            "provider": provider,
            "model": model,
            "operation": "embedding" if kind == "EMBEDDING" else "chat",
            "trace_id": row.get("traceId") or None,
            "user_id": row.get("userId") or None,
            "feature": row.get("name") or None,
            "environment": row.get("environment") or None,
            "prompt_key": row.get("promptName") or None,
            "prompt_version": str(row["promptVersion"])
            if row.get("promptVersion") is not None
            else None,
            "tags": _tags({k: v for k, v in metadata.items() if isinstance(v, str)}),
            "usage": usage,
            "status": "error" if level == "ERROR" else "ok",
            "latency_ms": _ms(start, end),
            "time_to_first_token_ms": _ms(start, first) if first else None,
            "cost_usd": _money(cost.get("total") if isinstance(cost, dict) else None),
            "sdk_language": "import-langfuse",
        }
    )


def _provider_from_model(model: str) -> str:
    """Langfuse does not record the provider: infer it from the model family."""
    lowered = model.lower()
    for prefix, provider in (
        ("claude", "anthropic"),
        ("gemini", "gemini"),
        ("grok", "xai"),
        ("mistral", "mistral"),
        ("deepseek", "deepseek"),
        ("command", "cohere"),
    ):
        if lowered.startswith(prefix):
            return provider
    return "openai"
