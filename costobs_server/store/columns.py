"""The ``events`` table's columns in table order; the read API lists request fields by them."""

from __future__ import annotations

from costobs.pricing import USAGE_COUNTS as USAGE_COUNTS

from costobs_server.vocabulary import DIMENSION_COLUMNS

TEXT_DIMENSIONS = DIMENSION_COLUMNS
"""The nine first-class metadata fields, a column each; '' when absent."""

# USAGE_COUNTS: the wire's usage counts, each a column of its own (the SDK's list: one source
# of truth).

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
    "canonical_model",
    "gateway",
    "gateway_host",
]
