"""Anthropic Messages usage → normalised usage (streamed: latest value per field)."""

from __future__ import annotations

from typing import Any

from costobs._usage._common import clean, g, n

# Fields of Anthropic's usage object that a streamed ``message_delta`` may update.
FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "server_tool_use",
    "output_tokens_details",
    "service_tier",
    "inference_geo",
)


def merge_latest(state: dict[str, Any], usage: Any) -> None:
    """Keep the latest non-null value of each usage field (deltas are cumulative: never sum)."""
    for name in FIELDS:
        value = g(usage, name)
        if value is not None:
            state[name] = value


def messages_usage(usage: Any) -> dict[str, Any]:
    """``Message.usage`` (or the merged streamed state) → normalised usage."""
    creation = n(usage, "cache_creation_input_tokens")
    details = g(usage, "cache_creation")
    w1h = n(details, "ephemeral_1h_input_tokens")
    w5m = n(details, "ephemeral_5m_input_tokens")
    if details is None or w1h + w5m < creation:
        w5m = max(w5m, creation - w1h)
    output = n(usage, "output_tokens")
    stu = g(usage, "server_tool_use")
    return clean(
        {
            "input_tokens": n(usage, "input_tokens"),
            "cached_input_tokens": n(usage, "cache_read_input_tokens"),
            "cache_write_5m_tokens": w5m,
            "cache_write_1h_tokens": w1h,
            "output_tokens": output,
            "reasoning_tokens": n(g(usage, "output_tokens_details"), "thinking_tokens"),
            "web_search_requests": n(stu, "web_search_requests"),
            "tool_requests": n(stu, "web_fetch_requests") + n(stu, "code_execution_requests"),
        }
    )


def tier(usage: Any) -> str | None:
    value = g(usage, "service_tier")
    return str(value) if value else None


def region(usage: Any) -> str | None:
    value = g(usage, "inference_geo")
    return str(value) if value else None
