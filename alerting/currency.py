"""Alerts and display currencies. Pure, no I/O.

A rule whose limit is in another currency (``{"budget": "900", "currency": "EUR"}``) is
evaluated on its spend converted day by day with each day's rate: ``in_currency`` turns the
USD spend per local day into that currency first, and ``rules.evaluate`` compares as usual.
Every fire of an org that shows another currency than USD also carries its figures converted
(``display_details``), which the messages print beside the USD ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from alerting.rules import Breach, Rule, evaluate, rule_currency
from costobs_server.currency import STORED, RateBook, exact_product, rate_text
from costobs_server.vocabulary import money_text


def in_currency(days: Mapping[date, Decimal], book: RateBook) -> dict[date, Decimal] | None:
    """USD spend per day → the book's currency, each day at its rate; None when a day with
    spend has no rate at all (before the first one)."""
    out = {}
    for day, usd in days.items():
        found = book.rate_for(day)
        if found is None:
            if usd != 0:
                return None
            continue
        out[day] = exact_product(usd, found.rate)
    return out


def _rate(book: RateBook, day: date) -> dict[str, Any]:
    found = book.rate_for(day)
    if found is None:
        return {"rate": None, "rate_date": None, "fallback": False}
    return {
        "rate": rate_text(found.rate),
        "rate_date": found.rate_date.isoformat(),
        "fallback": found.fallback,
    }


def evaluate_in_currency(
    rule: Rule,
    days: Mapping[date, Decimal],
    now: datetime,
    group: str,
    books: Mapping[str, RateBook],
) -> Breach | None:
    """``rules.evaluate`` in the rule's currency (USD: as is). None when it cannot be judged
    (no book of that currency, or spend on a day without any rate) or is not breached."""
    code = rule_currency(rule.config)
    if code == STORED:
        return evaluate(rule, days, now, group)
    book = books.get(code)
    converted = None if book is None else in_currency(days, book)
    if book is None or converted is None:
        return None
    breach = evaluate(rule, converted, now, group)
    if breach is None:
        return None
    today = rule.local_day(now)
    details = {**breach.details, "currency": code, **_rate(book, today)}
    details["observed_usd"] = money_text(_period_usd(rule, days, today))
    return Breach(breach.group, breach.period, breach.observed, breach.threshold, details)


def _period_usd(rule: Rule, days: Mapping[date, Decimal], today: date) -> Decimal:
    if rule.kind in ("daily_threshold", "spike"):
        return days.get(today, Decimal(0))
    first = today.replace(day=1)
    return sum((v for d, v in days.items() if first <= d <= today), Decimal(0))


def display_details(
    rule: Rule, breach: Breach, days: Mapping[date, Decimal], now: datetime, book: RateBook
) -> dict[str, Any] | None:
    """A USD rule's fire in the org's display currency: the period's spend converted day by
    day, the threshold at today's rate (it is a USD limit), and that rate. None when the fire
    is already in another currency, the org shows USD, or today has no rate."""
    if rule_currency(rule.config) != STORED or book.identity:
        return None
    today = rule.local_day(now)
    found = book.rate_for(today)
    if found is None:
        return None
    if rule.kind in ("daily_threshold", "spike"):
        observed = exact_product(days.get(today, Decimal(0)), found.rate)
    else:
        converted = in_currency(
            {d: v for d, v in days.items() if today.replace(day=1) <= d <= today}, book
        )
        if converted is None:
            return None
        # the same rule with a zero budget in the display currency: evaluate's own month sum
        # (or forecast) of the converted days is the observed figure
        probe = replace(rule, config={"budget": "0", "currency": book.currency.code})
        seen = evaluate(probe, converted, now, breach.group)
        observed = seen.observed if seen is not None else Decimal(0)
    return {
        "currency": book.currency.code,
        "observed": money_text(observed),
        "threshold": money_text(exact_product(breach.threshold, found.rate)),
        **_rate(book, today),
    }
