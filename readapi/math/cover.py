"""Which UTC half-months, UTC days and raw spans read a range's totals, with signs. Pure.

A range's totals (breakdowns, tags) sum rollup rows of whole UTC days, or of whole UTC
half-months (the 1st–15th, the 16th–end) where a half-month rollup exists, plus raw events for
what no whole day holds. When every metric is a plain sum, a coarser piece may overshoot the
range and the overshoot is subtracted, if that reads less: a range holding the 3rd–15th reads
that half-month and subtracts 2 days instead of adding 13; a Berlin day that holds 22 hours of
a UTC day reads that day and subtracts 2 hours of raw events instead of adding 22. So a range
reads at most 12 raw hours and 8 daily days at each end.

Exactness: for every instant, the pieces added that hold it minus the pieces subtracted that
hold it is 1 inside the range and 0 outside (``tests/test_readapi_cover.py`` checks it at every
boundary). A group that only appears in subtracted pieces therefore nets to zero requests, and
callers drop rows whose request count is zero. (An insert fills its rollups one after the other,
so a query racing it may see a just-written event in one piece and not yet in another, with or
without subtraction; the next read is exact.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from costobs_server.store.pairs import Done, days_of, half_end, half_start
from readapi.math.ranges import Span, Window

DaySpan = tuple[date, date]
"""UTC days, inclusive."""

_DAY = timedelta(days=1)
HALF_READ_DAYS = 1
"""What one half-month of the half-month rollup costs to read, in days of its daily twin: one
row per group instead of one per group and day, so about a day (more when groups are sparse)."""


@dataclass(frozen=True)
class Cover:
    halves: tuple[date, date] | None
    """UTC half-months added whole, ``[from, to)`` as their first days (a 1st or a 16th)."""
    days: tuple[DaySpan, ...] = ()
    """UTC days added."""
    days_removed: tuple[DaySpan, ...] = ()
    """UTC days subtracted (inside a half-month added whole)."""
    raw: tuple[Span, ...] = ()
    """Raw events added."""
    raw_removed: tuple[Span, ...] = ()
    """Raw events subtracted (inside a day added whole)."""


def cover(w: Window, *, halves: bool, subtract: bool) -> Cover:
    """How to read ``w`` from a daily rollup (and its half-month twin when ``halves``) and raw
    events; without ``subtract`` every piece lies inside the range."""
    whole, raw, raw_removed = _days(w.start_naive, w.end_naive, subtract)
    if whole is None:
        return Cover(None, raw=raw, raw_removed=raw_removed)
    if not halves:
        return Cover(None, (whole,), raw=raw, raw_removed=raw_removed)
    chosen, days, days_removed = _halves(whole, subtract)
    return Cover(chosen, days, days_removed, raw, raw_removed)


def _days(
    a: datetime, b: datetime, subtract: bool
) -> tuple[DaySpan | None, tuple[Span, ...], tuple[Span, ...]]:
    """The UTC days read whole, and raw spans added and subtracted, for ``[a, b)``."""
    first, last = a.date(), (b - timedelta(microseconds=1)).date()
    raw: list[Span] = []
    removed: list[Span] = []
    for day in sorted({first, last}):
        start = datetime.combine(day, time())
        inside = (max(a, start), min(b, start + _DAY))
        outside = _nonempty((start, inside[0]), (inside[1], start + _DAY))
        if not outside:
            continue  # a whole day
        if subtract and _length(outside) < inside[1] - inside[0]:
            removed.extend(outside)
            continue
        raw.append(inside)
        if day == first:
            first += _DAY
        if day == last:
            last -= _DAY
    whole = (first, last) if first <= last else None
    return whole, tuple(raw), tuple(removed)


def _halves(
    whole: DaySpan, subtract: bool
) -> tuple[tuple[date, date] | None, tuple[DaySpan, ...], tuple[DaySpan, ...]]:
    """The half-months added whole, and day spans added and subtracted, for the days
    ``whole``. Only the two end half-months can be partial, so the chosen ones adjoin."""
    d0, d1 = whole
    chosen: list[date] = []
    days: list[DaySpan] = []
    removed: list[DaySpan] = []
    half = half_start(d0)
    while half <= d1:
        end = half_end(half)
        c0, c1 = max(d0, half), min(d1, end)
        covered = (c1 - c0).days + 1
        length = (end - half).days + 1
        if covered == length:
            chosen.append(half)
        elif subtract and length - covered + HALF_READ_DAYS < covered:
            chosen.append(half)
            removed.extend(s for s in ((half, c0 - _DAY), (c1 + _DAY, end)) if s[0] <= s[1])
        else:
            days.append((c0, c1))
        half = end + _DAY
    span = (chosen[0], half_end(chosen[-1]) + _DAY) if chosen else None
    return span, _merged(days), tuple(removed)


def _merged(spans: list[DaySpan]) -> tuple[DaySpan, ...]:
    out: list[DaySpan] = []
    for a, b in spans:
        if out and out[-1][1] + _DAY == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def _nonempty(*spans: Span) -> tuple[Span, ...]:
    return tuple(s for s in spans if s[0] < s[1])


def _length(spans: tuple[Span, ...]) -> timedelta:
    return sum((b - a for a, b in spans), timedelta())


@dataclass(frozen=True)
class PairCover:
    """A ``Cover`` for the pair rollups, which hold only the UTC days and half-months the
    compactor has completed (``Done``): a half-month not complete is read as its days, and a
    day not complete from another source (``fallback``), keeping its sign."""

    halves: tuple[date, ...]
    days: tuple[tuple[DaySpan, int], ...]
    """Signed spans of complete days (the daily pair rollup)."""
    fallback: tuple[tuple[DaySpan, int], ...]
    """Signed spans of days to read elsewhere, whole."""
    raw: tuple[Span, ...]
    raw_removed: tuple[Span, ...]


def pair_cover(c: Cover, done: Done) -> PairCover:
    weight: dict[date, int] = {}

    def add(a: date, b: date, sign: int) -> None:
        for day in days_of(a, b):
            weight[day] = weight.get(day, 0) + sign

    halves = []
    if c.halves is not None:
        half = c.halves[0]
        while half < c.halves[1]:
            if half in done.halves:
                halves.append(half)
            else:
                add(half, half_end(half), 1)
            half = half_end(half) + _DAY
    for a, b in c.days:
        add(a, b, 1)
    for a, b in c.days_removed:
        add(a, b, -1)
    days: list[tuple[DaySpan, int]] = []
    fallback: list[tuple[DaySpan, int]] = []
    previous: tuple[date, int, bool] | None = None
    for day in sorted(weight):
        sign = weight[day]
        if sign == 0:
            continue
        ok = day in done.days
        runs = days if ok else fallback
        if previous == (day - _DAY, sign, ok) and runs:
            runs[-1] = ((runs[-1][0][0], day), sign)
        else:
            runs.append(((day, day), sign))
        previous = (day, sign, ok)
    return PairCover(tuple(halves), tuple(days), tuple(fallback), c.raw, c.raw_removed)
