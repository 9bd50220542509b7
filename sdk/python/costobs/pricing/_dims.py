"""Billing dimensions: rate keys of the price table and the usage fields they price."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from typing import Final

from costobs._fields import COUNT_FIELDS as COUNT_FIELDS
from costobs._fields import DECIMAL_FIELDS as DECIMAL_FIELDS
from costobs._fields import TEXT_FIELDS as TEXT_FIELDS
from costobs._fields import USAGE_FIELDS as USAGE_FIELDS

# Exact arithmetic: 60 significant digits is far beyond any count (<= 1e12) times any
# published rate, so products and sums below are exact; only divisions by 60/3600
# (per-minute / per-hour rates) and results with more than 18 decimal places are rounded,
# once, with ROUND_HALF_EVEN at 18 places (ClickHouse Decimal(38, 18)).
CTX: Final = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
PLACES: Final = 18
QUANTUM: Final = Decimal(1).scaleb(-PLACES)
ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)

# rate key -> (usage field it prices, units per published rate)
RATE_KEYS: Final[dict[str, tuple[str, int]]] = {
    "input": ("input_tokens", 1_000_000),
    "cached_input": ("cached_input_tokens", 1_000_000),
    "cache_write_5m": ("cache_write_5m_tokens", 1_000_000),
    "cache_write_1h": ("cache_write_1h_tokens", 1_000_000),
    "cache_write_30m": ("cache_write_30m_tokens", 1_000_000),
    "cache_write_12h": ("cache_write_12h_tokens", 1_000_000),
    "output": ("output_tokens", 1_000_000),
    "reasoning": ("reasoning_tokens", 1_000_000),
    "audio_input": ("audio_input_tokens", 1_000_000),
    "audio_output": ("audio_output_tokens", 1_000_000),
    "image_input": ("image_input_tokens", 1_000_000),
    "image_output": ("image_output_tokens", 1_000_000),
    "audio_per_second": ("audio_seconds", 1),
    "audio_per_minute": ("audio_seconds", 60),
    "audio_per_hour": ("audio_seconds", 3600),
    "characters_per_1m": ("characters", 1_000_000),
    "characters_per_1k": ("characters", 1_000),
    "web_search_per_1k": ("web_search_requests", 1_000),
    "tool_per_1k": ("tool_requests", 1_000),
    "requests_per_1k": ("requests", 1_000),
    "per_request": ("requests", 1),
}
IMAGES_KEY: Final = "images"
"""Per-image prices: a map ``"<size>/<quality>" | "<size>" | "<quality>" | "*"`` -> USD."""

# Token dimensions: the ones service-tier multipliers (batch, flex, priority) apply to.
TOKEN_RATE_KEYS: Final = frozenset(
    {
        "input",
        "cached_input",
        "cache_write_5m",
        "cache_write_1h",
        "cache_write_30m",
        "cache_write_12h",
        "output",
        "reasoning",
        "audio_input",
        "audio_output",
        "image_input",
        "image_output",
    }
)

# What counts as "the prompt" for long-context thresholds: every kind of input.
PROMPT_FIELDS: Final = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_write_30m_tokens",
    "cache_write_12h_tokens",
    "audio_input_tokens",
    "image_input_tokens",
)


def fmt(value: Decimal) -> str:
    """A decimal as a plain string (no exponent, no trailing zeros): ``"0.0125"``, ``"3"``."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def quantize(value: Decimal) -> Decimal:
    """Round to 18 places (ROUND_HALF_EVEN) only when the value has more."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=CTX)
    return value
