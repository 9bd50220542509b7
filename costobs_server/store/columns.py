"""The ``events`` table's columns, in insert order, and the defaults of absent wire fields."""

from __future__ import annotations

from decimal import Decimal

TEXT_DIMENSIONS = (
    "customer_id",
    "user_id",
    "trace_id",
    "feature",
    "team",
    "service",
    "environment",
    "prompt_key",
    "prompt_version",
)
"""The nine first-class metadata fields; '' when absent."""

USAGE_COUNTS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_write_30m_tokens",
    "cache_write_12h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "image_input_tokens",
    "image_output_tokens",
    "images",
    "characters",
    "web_search_requests",
    "tool_requests",
    "requests",
)

EVENT_COLUMNS = [
    "org_id",
    "request_id",
    "timestamp",
    "received_at",
    "provider",
    "model",
    "operation",
    *TEXT_DIMENSIONS,
    "tags",
    *USAGE_COUNTS,
    "image_size",
    "image_quality",
    "audio_seconds",
    "service_tier",
    "batch",
    "region",
    "status",
    "error_type",
    "latency_ms",
    "time_to_first_token_ms",
    "streaming",
    "cost_usd",
    "sdk_cost_usd",
    "provider_cost_usd",
    "unpriced",
    "price_entry",
    "pricing_version",
    "sdk_pricing_version",
    "provider_request_id",
    "sdk_language",
    "sdk_version",
    "stream_seq",
]

ZERO = Decimal(0)
