"""An event's priced cost split by usage type, for the FOCUS export. Pure.

Six parts whose sum is the quote's ``cost_usd`` exactly: input (uncached), cached input, cache
writes (every TTL), output (the non-reasoning part), reasoning, and everything else (audio,
image, characters, per-request and per-image fees). Where a model has no separate reasoning
rate, reasoning tokens are billed at the output rate inside the ``output`` part; their share
is ``output part × reasoning / output`` rounded half-even at 18 places, and the output part keeps
the rest, so nothing is lost to rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Final

PARTS: Final = (
    "cost_input_usd",
    "cost_cached_input_usd",
    "cost_cache_write_usd",
    "cost_output_usd",
    "cost_reasoning_usd",
    "cost_other_usd",
)
_COLUMN_OF_KEY: Final = {
    "input": "cost_input_usd",
    "cached_input": "cost_cached_input_usd",
    "cache_write_5m": "cost_cache_write_usd",
    "cache_write_1h": "cost_cache_write_usd",
    "cache_write_30m": "cost_cache_write_usd",
    "cache_write_12h": "cost_cache_write_usd",
    "output": "cost_output_usd",
    "reasoning": "cost_reasoning_usd",
}
_QUANTUM: Final = Decimal("1e-18")
_ZERO: Final = Decimal(0)


def _text(value: Decimal) -> str:
    with localcontext() as ctx:
        ctx.prec = 60  # normalize() rounds to the context's precision
        return format(value.normalize(), "f")


def cost_parts(breakdown: Mapping[str, Decimal], usage: Mapping[str, Any]) -> dict[str, str]:
    """The six part columns (decimal strings) for a quote's per-rate-key ``breakdown``."""
    parts = dict.fromkeys(PARTS, _ZERO)
    for key, amount in breakdown.items():
        column = _COLUMN_OF_KEY.get(key, "cost_other_usd")
        parts[column] += amount
    reasoning = int(usage.get("reasoning_tokens") or 0)
    output = int(usage.get("output_tokens") or 0)
    if reasoning and "reasoning" not in breakdown and output:
        with localcontext() as ctx:
            ctx.prec = 60
            share = (parts["cost_output_usd"] * reasoning / output).quantize(
                _QUANTUM, ROUND_HALF_EVEN
            )
        parts["cost_reasoning_usd"] = share
        parts["cost_output_usd"] -= share
    return {column: _text(value) for column, value in parts.items() if value}
