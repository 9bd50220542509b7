"""Display currencies and dated exchange rates: validation and exact conversion. Pure, no I/O.

USD is the stored truth. A rate is *units of the display currency per 1 USD* on a day
(``EUR 0.92``: 1 USD = 0.92 EUR). A day converts with its own rate, or, when it has none, with
the latest earlier rate, and says so (``fallback``). A day before the first rate has no rate:
its figure is not converted (``None``), never guessed.

Rounding rule: conversion is exact (``usd × rate`` computed with the ``Inexact`` trap set, so a
rounded product is a bug, not a figure); sums of converted days are exact too. Only what is
shown to a person (dashboard, alert message) is rounded, once, half-even, to the currency's
ISO 4217 minor units (``display``); an amount below one minor unit keeps four significant
digits.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, Inexact, InvalidOperation, localcontext

from costobs_server.bounds import outside_range
from costobs_server.currency._iso4217 import MINOR_UNITS
from costobs_server.errors import CostObsError

STORED = "USD"
MAX_RATE_PLACES = 12
MAX_RATE_INTEGER_DIGITS = 9
"""Rates are kept to 12 decimal places and below 10⁹ (no currency is near it: VND ≈ 2.6 × 10⁴
per USD), so ``usd (18 places) × rate`` is exact within 40 digits."""
_PRECISION = 80


class CurrencyError(CostObsError, ValueError):
    """An unknown currency code, a bad rate or date, or a malformed rate file; the message
    names the field (and the line, for a file)."""


@dataclass(frozen=True)
class Currency:
    code: str
    minor_units: int


def currency(code: object, field: str = "currency") -> Currency:
    """The ISO 4217 currency ``code`` names (upper case), or ``CurrencyError`` naming ``field``."""
    if not isinstance(code, str) or code.strip().upper() not in MINOR_UNITS:
        shown = repr(code)[:40]
        raise CurrencyError(f"{field}: {shown} is not an ISO 4217 currency code (e.g. EUR)")
    upper = code.strip().upper()
    return Currency(upper, MINOR_UNITS[upper])


def parse_rate(value: object, field: str = "rate") -> Decimal:
    """A rate from its decimal text: positive, finite, at most 12 places, below 10⁹."""
    if isinstance(value, float | bool) or not isinstance(value, str | int | Decimal):
        raise CurrencyError(f"{field}: a rate is a decimal string such as '0.92'")
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise CurrencyError(f"{field}: {str(value)[:40]!r} is not a decimal number") from None
    if not rate.is_finite() or rate <= 0:
        raise CurrencyError(f"{field}: {str(value)[:40]!r} is not a positive rate")
    exponent = rate.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if -exponent > MAX_RATE_PLACES:
        raise CurrencyError(f"{field}: {value!s} has more than {MAX_RATE_PLACES} decimal places")
    if rate >= Decimal(10) ** MAX_RATE_INTEGER_DIGITS:
        raise CurrencyError(f"{field}: {value!s} is too large for an exchange rate")
    return rate.normalize()


def parse_day(value: object, field: str = "date") -> date:
    """A YYYY-MM-DD day within the supported range, or ``CurrencyError`` naming ``field``."""
    if isinstance(value, date):
        day = value
    else:
        text = value.strip() if isinstance(value, str) else ""
        try:
            if len(text) != 10:
                raise ValueError
            day = date.fromisoformat(text)
        except ValueError:
            raise CurrencyError(f"{field}: {str(value)[:40]!r} is not a date YYYY-MM-DD") from None
    problem = outside_range(day)
    if problem:
        raise CurrencyError(f"{field}: {problem}")
    return day


def rate_text(rate: Decimal) -> str:
    text = format(rate.normalize(), "f")
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True)
class DayRate:
    """The rate a day converts with."""

    day: date
    rate: Decimal
    rate_date: date
    """The day the rate was set for; earlier than ``day`` when ``day`` had none."""

    @property
    def fallback(self) -> bool:
        return self.rate_date != self.day


@dataclass(frozen=True)
class Segment:
    """Consecutive days ``first``..``last`` that convert alike: with the rate of ``rate_date``
    (``rate`` None: before the first rate, not converted)."""

    first: date
    last: date
    rate: Decimal | None
    rate_date: date | None

    @property
    def fallback(self) -> bool:
        """Some day of the segment used an earlier day's rate."""
        if self.rate is None or self.rate_date is None:  # no rate, or USD (no rate needed)
            return False
        return (self.first, self.last) != (self.rate_date, self.rate_date)


def exact_product(amount: Decimal, rate: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.traps[Inexact] = True
        return amount * rate


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.traps[Inexact] = True
        return sum(values, Decimal(0))


class RateBook:
    """One org's display currency and its dated rates (USD per day → display currency)."""

    def __init__(self, display: Currency, rates: Mapping[date, Decimal] | None = None) -> None:
        self.currency = display
        ordered = sorted((rates or {}).items())
        self._days = [d for d, _ in ordered]
        self._rates = [r for _, r in ordered]

    @property
    def identity(self) -> bool:
        """Display currency USD: nothing to convert."""
        return self.currency.code == STORED

    def __len__(self) -> int:
        return len(self._days)

    def rate_for(self, day: date) -> DayRate | None:
        """The day's rate, the latest earlier one (``fallback``), or None before the first."""
        if self.identity:
            return DayRate(day, Decimal(1), day)
        at = bisect.bisect_right(self._days, day)
        if at == 0:
            return None
        return DayRate(day, self._rates[at - 1], self._days[at - 1])

    def convert(self, amount: Decimal, day: date) -> Decimal | None:
        found = self.rate_for(day)
        return None if found is None else exact_product(amount, found.rate)

    def convert_days(self, per_day: Mapping[date, Decimal]) -> Decimal | None:
        """Σ amount(day) × rate(day), exactly; None when a day with spend has no rate."""
        parts = []
        for day, amount in per_day.items():
            converted = self.convert(amount, day)
            if converted is None:
                if amount != 0:
                    return None
                continue
            parts.append(converted)
        return exact_sum(parts)

    def segments(self, first: date, last: date) -> list[Segment]:
        """The days ``first``..``last`` grouped by the rate they convert with."""
        out: list[Segment] = []
        day = first
        while day <= last:
            found = self.rate_for(day)
            if self.identity:
                return [Segment(first, last, Decimal(1), None)]
            if found is None:
                # before the first rate: up to the day before it (or the end)
                end = min(last, self._days[0] - timedelta(days=1)) if self._days else last
                out.append(Segment(day, end, None, None))
            else:
                at = bisect.bisect_right(self._days, found.rate_date)
                following = self._days[at] if at < len(self._days) else None
                end = last if following is None else min(last, following - timedelta(days=1))
                out.append(Segment(day, end, found.rate, found.rate_date))
            day = out[-1].last + timedelta(days=1)
        return out


def display(amount: Decimal, unit: Currency) -> str:
    """What a person reads: rounded half-even to the minor units, grouped, with the code. An
    amount smaller than one minor unit (a cost per request) keeps four significant digits
    instead of showing as zero, as USD amounts under a cent do on the dashboard."""
    places = unit.minor_units
    if amount != 0 and abs(amount) < Decimal(1).scaleb(-places):
        places = min(12, -amount.adjusted() + 3)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        shown = amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    return f"{shown:,.{places}f} {unit.code}"
