"""Exact money on the way out: decimal strings, never floats. Pure."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from costobs_server.vocabulary import money_text

ZERO = Decimal(0)
_RATIO = Decimal("1e-12")
_PCT = Decimal("0.01")


def dec(value: Any) -> Decimal:
    """A stored sum (Decimal, int or None) as a Decimal; None is 0."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):  # never expected from the store; exact via its repr
        return Decimal(repr(value))
    return Decimal(value)


def money(value: Any) -> str:
    """A stored sum as the API writes money (``vocabulary.money_text``)."""
    return money_text(dec(value))


def ratio(numerator: Any, denominator: Any) -> str | None:
    """``numerator / denominator`` rounded to 12 places (cost per request, averages); None
    when the denominator is 0."""
    den = dec(denominator)
    if den == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return money((dec(numerator) / den).quantize(_RATIO, ROUND_HALF_EVEN))


def percent(part: Any, whole: Any) -> str | None:
    """``100 × part / whole`` to two places; None when ``whole`` is 0."""
    den = dec(whole)
    if den == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        value = (dec(part) * 100 / den).quantize(_PCT, ROUND_HALF_EVEN)
    return format(value, "f") if value != 0 else "0.00"


def change(current: Any, previous: Any) -> str | None:
    """Percent change from ``previous`` to ``current``; None when there is nothing before."""
    return percent(dec(current) - dec(previous), previous)
