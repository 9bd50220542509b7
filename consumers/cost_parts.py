"""An event's priced cost split by usage type, for the FOCUS export. Pure.

Six parts whose sum is the quote's ``cost_usd`` exactly: input (uncached), cached input, cache
writes (every TTL), output (the non-reasoning part), reasoning, and everything else (audio,
image, characters, per-request and per-image fees). Where a model has no separate reasoning
rate, reasoning tokens are billed at the output rate inside the ``output`` part; their share
is ``output part × reasoning / output`` rounded half-even to 1e-18 USD, and the output part
keeps the rest, so nothing is lost to rounding. Arithmetic is on whole 1e-18 USD units (the
quote's own, and ClickHouse's ``Decimal(38, 18)``): exact and cheap on the writer's hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
_ATTO: Final = 10**18


def atto_text(value: int) -> str:
    """Whole 1e-18 USD units as a plain decimal string: ``2500000000000000`` → ``"0.0025"``."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), _ATTO)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:018d}".rstrip("0")


def _share(amount: int, part: int, whole: int) -> int:
    """``amount × part / whole`` rounded half to even."""
    quotient, remainder = divmod(amount * part, whole)
    twice = 2 * remainder
    if twice > whole or (twice == whole and quotient % 2):
        quotient += 1
    return quotient


def cost_parts(breakdown: Iterable[tuple[str, int]], usage: Mapping[str, Any]) -> dict[str, str]:
    """The non-zero part columns (decimal strings) for a quote's ``breakdown_atto``."""
    parts: dict[str, int] = {}
    split_reasoning = False
    for key, amount in breakdown:
        column = _COLUMN_OF_KEY.get(key, "cost_other_usd")
        parts[column] = parts.get(column, 0) + amount
        split_reasoning = split_reasoning or key == "reasoning"
    reasoning = usage.get("reasoning_tokens") or 0
    output = usage.get("output_tokens") or 0
    if reasoning and output and not split_reasoning and parts.get("cost_output_usd"):
        share = _share(parts["cost_output_usd"], int(reasoning), int(output))
        parts["cost_reasoning_usd"] = share
        parts["cost_output_usd"] -= share
    return {column: atto_text(amount) for column, amount in parts.items() if amount}
