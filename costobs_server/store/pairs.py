"""The pair rollups (migration 0006): which level pairs they hold and which UTC days and
half-months of them are complete. Pure: the compactor and the read API both decide from here.

A pair is ``(a, b)`` of level labels, as the read API names levels: a first-class dimension
(``customer``, ``feature``…) or ``tag:<key>``. The rollups hold customer or user × each
attribute below, customer × user, a tag × customer or user, and two tags (``a < b``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from costobs_server.vocabulary import HIGH_CARDINALITY, LEVELS

HIGH = HIGH_CARDINALITY
"""The high-cardinality side of a pair: level → events column."""
ATTRIBUTES = {
    name: column
    for name, column in LEVELS.items()
    if name not in HIGH and name not in ("provider", "model")
}
"""What each of them is paired with, every other read-API level but provider and model (the
half-month dimension × model rollup answers those): level → events column."""
DIMENSION_KINDS = len(HIGH) * len(ATTRIBUTES) + 1
"""Pair kinds every event adds to: the above and customer × user (tag pairs only come with
tags)."""

_DAY = timedelta(days=1)


def is_pair(a: str, b: str) -> bool:
    """Whether ``(a, b)``, in this order, is a pair the rollups hold."""
    if a in HIGH:
        return b in ATTRIBUTES or (a, b) == ("customer", "user")
    if a.startswith("tag:"):
        return b in HIGH or (b.startswith("tag:") and a < b)
    return False


def pair_of(x: str, y: str) -> tuple[str, str] | None:
    """The stored pair for levels ``x`` and ``y`` in either order, or None."""
    for a, b in ((x, y), (y, x)):
        if is_pair(a, b):
            return a, b
    return None


def pairs_expression() -> str:
    """Array of ``(a, a_value, b, b_value)`` per event, for ARRAY JOIN (constants only)."""
    dims = ", ".join(
        [
            f"('{h}', {hc}, '{x}', toString({xc}))"
            for h, hc in HIGH.items()
            for x, xc in ATTRIBUTES.items()
        ]
        + ["('customer', customer_id, 'user', user_id)"]
    )
    tags = "arrayZip(mapKeys(tags), mapValues(tags))"
    by_high = ", ".join(f"('tag:' || t.1, t.2, '{h}', {hc})" for h, hc in HIGH.items())
    return (
        f"arrayConcat([{dims}], "
        f"arrayFlatten(arrayMap(t -> [{by_high}], {tags})), "
        "arrayFilter(q -> q.1 < q.3, arrayFlatten(arrayMap("
        f"t -> arrayMap(u -> ('tag:' || t.1, t.2, 'tag:' || u.1, u.2), {tags}), {tags}))))"
    )


def half_start(day: date) -> date:
    """The first day of ``day``'s UTC half-month: the 1st or the 16th."""
    return day.replace(day=1 if day.day <= 15 else 16)


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - _DAY


def half_end(day: date) -> date:
    """The last day of ``day``'s half-month: the 15th or the month's last day."""
    return day.replace(day=15) if day.day <= 15 else month_end(day)


def days_of(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += _DAY


@dataclass(frozen=True)
class Done:
    """The UTC days and half-months (by first day) whose pair rows hold exactly the events
    ``cost_daily`` counts for them."""

    days: frozenset[date]
    halves: frozenset[date]


Counts = Mapping[date, int]
"""Events per UTC day (cost_daily)."""
Records = Mapping[tuple[str, date], int]
"""The compactor's record per ``("day" | "half", first day)``: the events its rows hold."""


def day_complete(day: date, counts: Counts, records: Records) -> bool:
    """A day's pair rows hold exactly its events. Without events and without a record it is
    complete (nothing to hold); event counts only grow, so an equal count means the rows were
    computed from every event of the day."""
    return records.get(("day", day), 0) == counts.get(day, 0)


def half_complete(half: date, counts: Counts, records: Records) -> bool:
    total = sum(counts.get(d, 0) for d in days_of(half, half_end(half)))
    return records.get(("half", half), 0) == total


def done_units(counts: Counts, records: Records, first: date, last: date) -> Done:
    """Which days in ``[first, last]``, and half-months starting in it, are complete."""
    days = frozenset(d for d in days_of(first, last) if day_complete(d, counts, records))
    halves = frozenset(
        h
        for h in days_of(half_start(first), last)
        if h == half_start(h) and half_complete(h, counts, records)
    )
    return Done(days, halves)


def stale_days(counts: Counts, records: Records, today: date) -> list[date]:
    """Closed UTC days (before ``today``) whose pair rows are missing or out of date."""
    return sorted(d for d in counts if d < today and not day_complete(d, counts, records))


def stale_halves(counts: Counts, records: Records, today: date) -> list[date]:
    """Closed half-months whose days are all complete but whose own rows are not."""
    return [
        h
        for h in sorted({half_start(d) for d in counts})
        if half_end(h) < today
        and all(day_complete(d, counts, records) for d in days_of(h, half_end(h)))
        and not half_complete(h, counts, records)
    ]
