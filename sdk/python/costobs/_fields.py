"""The wire's normalised usage fields (``costobs_server.wire.Usage``), in one place for the SDK
and its pricing engine; a module of its own so ``import costobs`` stays light."""

from __future__ import annotations

from typing import Final

# The wire's count fields (costobs_server.wire.Usage), in the ``events`` table's column order.
COUNTS: Final = (
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
COUNT_FIELDS: Final = frozenset(COUNTS)
DECIMAL_FIELDS: Final = frozenset({"audio_seconds"})
TEXT_FIELDS: Final = frozenset({"image_size", "image_quality"})
USAGE_FIELDS: Final = COUNT_FIELDS | DECIMAL_FIELDS | TEXT_FIELDS
