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

HIGH = {"customer": "customer_id", "user": "user_id"}
"""The high-cardinality side of a pair: level → events column."""
ATTRIBUTES = {
    "feature": "feature",
    "team": "team",
    "service": "service",
    "environment": "environment",
    "prompt": "prompt_key",
    "prompt_version": "prompt_version",
    "status": "status",
}
"""What each of them is paired with: level → events column."""
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


def half_end(day: date) -> date:
    """The last day of ``day``'s half-month: the 15th or the month's last day."""
    if day.day <= 15:
        return day.replace(day=15)
    first_of_next = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first_of_next - _DAY


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


def done_units(
    counts: Mapping[date, int], done: Mapping[tuple[str, date], int], first: date, last: date
) -> Done:
    """Which days in ``[first, last]``, and half-months starting in it, are complete.

    ``counts``: events per UTC day (cost_daily); ``done``: the compactor's record per
    ``("day" | "half", start)``. A day without events and without a record is complete
    (there is nothing to hold). Event counts only grow, so an equal count means the rows
    were computed from every event of the day."""
    days = frozenset(d for d in days_of(first, last) if done.get(("day", d), 0) == counts.get(d, 0))
    halves = set()
    for h in days_of(half_start(first), last):
        if h != half_start(h):
            continue
        total = sum(counts.get(d, 0) for d in days_of(h, half_end(h)))
        if done.get(("half", h), 0) == total:
            halves.add(h)
    return Done(days, frozenset(halves))


def stale_days(
    counts: Mapping[date, int], done: Mapping[tuple[str, date], int], today: date
) -> list[date]:
    """Closed UTC days (before ``today``) whose pair rows are missing or out of date."""
    return sorted(d for d, n in counts.items() if d < today and done.get(("day", d), 0) != n)


def stale_halves(
    counts: Mapping[date, int], done: Mapping[tuple[str, date], int], today: date
) -> list[date]:
    """Closed half-months whose days are all complete but whose own rows are not."""
    out = []
    for h in sorted({half_start(d) for d in counts}):
        end = half_end(h)
        if end >= today:
            continue
        days = list(days_of(h, end))
        if any(done.get(("day", d), 0) != counts.get(d, 0) for d in days):
            continue
        if done.get(("half", h), 0) != sum(counts.get(d, 0) for d in days):
            out.append(h)
    return out
