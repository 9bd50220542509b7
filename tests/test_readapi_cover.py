"""The signed cover of a range (``readapi.math.cover``): added minus subtracted pieces hold every
instant of the range exactly once and nothing outside it, in every kind of zone and across
half-month, month, DST and year boundaries; and subtraction keeps the reads small."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import pairwise

import pytest

from costobs_server.store.pairs import half_end, half_start
from readapi.math import ranges
from readapi.math.cover import Cover, cover

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/Los_Angeles",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",  # +14: local days start at 10:00 UTC the day before
]
LENGTHS = (1, 2, 7, 15, 16, 17, 28, 30, 31, 45, 59, 60, 61, 90, 91, 92, 120, 400)
STARTS = [date(2026, 1, 1) + timedelta(days=i) for i in range(0, 366, 11)] + [
    date(2026, 3, 29),  # Berlin's spring DST day
    date(2026, 10, 25),  # Berlin's autumn DST day
    date(2026, 12, 31),
]
DAY = timedelta(days=1)


def signed_pieces(c: Cover) -> list[tuple[datetime, datetime, int]]:
    def at(d: date) -> datetime:
        return datetime.combine(d, time())

    out: list[tuple[datetime, datetime, int]] = []
    if c.halves is not None:
        out.append((at(c.halves[0]), at(c.halves[1]), 1))
    out += [(at(a), at(b) + DAY, 1) for a, b in c.days]
    out += [(at(a), at(b) + DAY, -1) for a, b in c.days_removed]
    out += [(a, b, 1) for a, b in c.raw]
    out += [(a, b, -1) for a, b in c.raw_removed]
    return out


def assert_exact(c: Cover, w: ranges.Window) -> None:
    """The signed count is a step function changing only at piece bounds: checking it at
    every bound and between each two is checking it everywhere."""
    pieces = signed_pieces(c)
    a, b = w.start_naive, w.end_naive
    bounds = sorted({a, b, *(x for x, _, _ in pieces), *(y for _, y, _ in pieces)})
    probes = [*bounds, *(x + (y - x) / 2 for x, y in pairwise(bounds))]
    probes += [bounds[0] - timedelta(milliseconds=1), bounds[-1]]
    for t in probes:
        count = sum(sign for x, y, sign in pieces if x <= t < y)
        assert count == (1 if a <= t < b else 0), (w.first, w.last, w.timezone, t, c)


def halves_are_whole(c: Cover) -> None:
    if c.halves is not None:
        a, b = c.halves
        assert a.day in (1, 16) and b.day in (1, 16) and a < b


def test_half_months() -> None:
    day = date(2024, 1, 1)
    while day < date(2025, 1, 1):
        a, b = half_start(day), half_end(day)
        assert a <= day <= b and a.day in (1, 16) and a.month == b.month
        assert (b + DAY).day in (1, 16) and half_start(b + DAY) == b + DAY
        assert 13 <= (b - a).days + 1 <= 16
        day += DAY


@pytest.mark.parametrize("timezone", ZONES)
@pytest.mark.parametrize("halves", [True, False])
def test_added_minus_subtracted_pieces_are_exactly_the_range(timezone: str, halves: bool) -> None:
    for first in STARTS:
        for length in LENGTHS:
            w = ranges.window(first, first + timedelta(days=length - 1), timezone)
            for subtract in (True, False):
                c = cover(w, halves=halves, subtract=subtract)
                assert_exact(c, w)
                halves_are_whole(c)
                if not halves:
                    assert c.halves is None and not c.days_removed
                if not subtract:  # nothing outside the range is read
                    assert not c.days_removed and not c.raw_removed
                    for x, y, _ in signed_pieces(c):
                        assert w.start_naive <= x and y <= w.end_naive


@pytest.mark.parametrize("timezone", ZONES)
def test_subtraction_bounds_raw_hours_and_daily_days(timezone: str) -> None:
    for first in STARTS:
        for length in LENGTHS:
            w = ranges.window(first, first + timedelta(days=length - 1), timezone)
            c = cover(w, halves=True, subtract=True)
            raw = sum((b - a for a, b in (*c.raw, *c.raw_removed)), timedelta())
            assert raw <= timedelta(hours=24), (first, length, raw)  # ≤ 12 h at each end
            days = sum((b - a).days + 1 for a, b in (*c.days, *c.days_removed))
            assert days <= 16, (first, length, days)  # ≤ 8 days at each end
            plain = cover(w, halves=True, subtract=False)
            plain_raw = sum((b - a for a, b in plain.raw), timedelta())
            plain_days = sum((b - a).days + 1 for a, b in plain.days)
            assert raw <= plain_raw and days <= plain_days + 1


def test_the_cases_the_module_describes() -> None:
    # the 3rd–15th: the half-month whole, minus its first two days
    w = ranges.window(date(2026, 11, 3), date(2026, 11, 15), "UTC")
    c = cover(w, halves=True, subtract=True)
    assert c.halves == (date(2026, 11, 1), date(2026, 11, 16))
    assert c.days_removed == ((date(2026, 11, 1), date(2026, 11, 2)),)
    assert not c.days and not c.raw and not c.raw_removed
    # 90 days: Jul 6–15 as Jul 1–15 minus 5 days, whole halves to Sep 30, Oct 1–3 by day
    w = ranges.window(date(2026, 7, 6), date(2026, 10, 3), "UTC")
    c = cover(w, halves=True, subtract=True)
    assert c.halves == (date(2026, 7, 1), date(2026, 10, 1))
    assert c.days_removed == ((date(2026, 7, 1), date(2026, 7, 5)),)
    assert c.days == ((date(2026, 10, 1), date(2026, 10, 3)),)
    # without subtraction every piece lies inside: Jul 6–15 day by day
    c = cover(w, halves=True, subtract=False)
    assert c.halves == (date(2026, 7, 16), date(2026, 10, 1))
    assert c.days == ((date(2026, 7, 6), date(2026, 7, 15)), (date(2026, 10, 1), date(2026, 10, 3)))
    # a Berlin (UTC+2) day holds 22 hours of its UTC day: that day, minus 2 raw hours
    w = ranges.window(date(2026, 7, 6), date(2026, 7, 6), "Europe/Berlin")
    c = cover(w, halves=False, subtract=True)
    assert c.days == ((date(2026, 7, 6), date(2026, 7, 6)),)
    assert c.raw == ((datetime(2026, 7, 5, 22), datetime(2026, 7, 6)),)
    assert c.raw_removed == ((datetime(2026, 7, 6, 22), datetime(2026, 7, 7)),)
