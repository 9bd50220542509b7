"""Date ranges in an org's time zone, mapped onto UTC storage. Pure: no I/O.

A range is whole local days ``first..last`` (inclusive) in the org's zone, i.e. the UTC instants
``[start, end)``. The rollups are bucketed by UTC day, hour or quarter hour, so the window also
says exactly how to read the range by hour (see ``readapi.sql``; by day and half-month:
``readapi.math.cover``): the whole UTC hours inside it, and the hours that hold a local midnight
in :30/:45 zones (read by quarter hour) — only what lies off the quarter-hour grid
(historical local mean times) is read from raw events, so every zone gets exact figures.

``grain`` classifies the zone over the range, and is reported as the range's ``source``:

* ``day``  — the offset is 0 throughout (UTC; London in winter): local days are UTC days, and
  every figure comes from rollups alone.
* ``hour`` — whole-hour offsets: per-day figures from hourly rollups alone; range totals by
  dimension read raw events only for the partial UTC days at the two ends.
* ``raw``  — a :30/:45 offset somewhere (India, Nepal, Lord Howe's DST…): additionally the hour
  around each local midnight is split by quarter hour (the name predates the quarter-hour
  rollup, when those hours were read raw; it stays for the API's sake).

Offsets are sampled at every local midnight of the range and the one after it: a DST change
happens inside a day, so both of its offsets are seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

Grain = Literal["day", "hour", "raw"]
MAX_RANGE_DAYS = 3700
"""About ten years: bounds the work a single request can ask for."""


class RangeError(ValueError):
    """A range or time zone the read API cannot serve; the message names the parameter."""


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``RangeError`` for anything else (no file paths, no blanks)."""
    if name not in _zone_names() and name != "UTC":
        raise RangeError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - listed but broken
        raise RangeError(f"unknown time zone {name!r}") from exc


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant a local day starts (a gap at midnight moves it forward, as zoneinfo
    resolves nonexistent times)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


Span = tuple[datetime, datetime]
"""UTC instants [from, to), naive (ClickHouse parameters bind naive datetimes as UTC)."""


@dataclass(frozen=True)
class Window:
    first: date
    last: date
    """Local days, inclusive."""
    timezone: str
    start: datetime
    end: datetime
    """UTC instants, ``start`` inclusive and ``end`` exclusive."""
    grain: Grain

    # How per-day figures read the range, exactly, from rollups plus a few raw events (range
    # totals by day and half-month: ``readapi.math.cover``):
    whole_hours: Span | None
    """UTC hours wholly inside the range (hourly rollups answer these, except…)."""
    straddled_hours: tuple[datetime, ...]
    """…hours that hold a local midnight (zones with :30/:45 offsets): they belong to two
    local days, so they are read by quarter hour instead, or raw (``raw_hours``)."""
    hour_edges: tuple[Span, ...]
    """Partial hours at the ends of the range (only for :30/:45 zones)."""
    quarter_hours: tuple[datetime, ...] = ()
    """The straddled hours whose local midnight is on a quarter hour (all of them, in any
    offset of today's tz database): the quarter-hour rollup answers these."""
    quarter_edges: tuple[Span, ...] = ()
    """The quarter hours inside ``hour_edges`` (quarter-hour rollup)."""
    raw_hours: tuple[datetime, ...] = ()
    """Straddled hours off the quarter-hour grid (raw events)."""
    raw_edges: tuple[Span, ...] = ()
    """What of ``hour_edges`` is off the quarter-hour grid (raw events)."""

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def start_naive(self) -> datetime:
        """``start`` as a naive UTC datetime (what ClickHouse parameters bind exactly)."""
        return self.start.replace(tzinfo=None)

    @property
    def end_naive(self) -> datetime:
        return self.end.replace(tzinfo=None)


def grain_for(first: date, last: date, tz: ZoneInfo) -> Grain:
    offsets = set()
    for i in range((last - first).days + 2):
        instant = local_midnight(first + timedelta(days=i), tz)
        offset = instant.astimezone(tz).utcoffset()
        assert offset is not None
        offsets.add(int(offset.total_seconds()))
    if offsets == {0}:
        return "day"
    if all(o % 3600 == 0 for o in offsets):
        return "hour"
    return "raw"


def _naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def _spans(*candidates: Span) -> tuple[Span, ...]:
    return tuple(s for s in candidates if s[0] < s[1])


def window(first: date, last: date, timezone: str) -> Window:
    if first > last:
        raise RangeError("'from' must not be after 'to'")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise RangeError(f"a range covers at most {MAX_RANGE_DAYS} days")
    tz = zone(timezone)
    start = local_midnight(first, tz)
    end = local_midnight(last + timedelta(days=1), tz)
    a, b = _naive(start), _naive(end)
    hour = timedelta(hours=1)
    # whole UTC hours inside [a, b), and the local midnights that fall inside an hour
    h0 = a.replace(minute=0, second=0, microsecond=0)
    h0 = h0 if h0 == a else h0 + hour
    h1 = b.replace(minute=0, second=0, microsecond=0)
    whole_hours = (h0, h1) if h0 < h1 else None
    straddled: list[tuple[datetime, datetime]] = []
    for i in range(1, (last - first).days + 1):
        midnight = _naive(local_midnight(first + timedelta(days=i), tz))
        floor = midnight.replace(minute=0, second=0, microsecond=0)
        if floor != midnight and whole_hours and h0 <= floor < h1:
            straddled.append((floor, midnight))
    hour_edges = _spans((a, min(h0, b)), (max(h1, a), b)) if whole_hours else ((a, b),)
    quarter_edges: list[Span] = []
    raw_edges: list[Span] = []
    for x, y in hour_edges:
        qx, qy = _quarter_ceil(x), _quarter_floor(y)
        if qx < qy:
            quarter_edges.append((qx, qy))
            raw_edges.extend(_spans((x, qx), (qy, y)))
        else:
            raw_edges.append((x, y))
    return Window(
        first,
        last,
        timezone,
        start,
        end,
        grain_for(first, last, tz),
        whole_hours,
        tuple(h for h, _ in straddled),
        hour_edges,
        quarter_hours=tuple(h for h, m in straddled if _quarter_floor(m) == m),
        quarter_edges=tuple(quarter_edges),
        raw_hours=tuple(h for h, m in straddled if _quarter_floor(m) != m),
        raw_edges=tuple(raw_edges),
    )


def _quarter_floor(instant: datetime) -> datetime:
    return instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)


def _quarter_ceil(instant: datetime) -> datetime:
    floor = _quarter_floor(instant)
    return floor if floor == instant else floor + timedelta(minutes=15)


def today(timezone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(zone(timezone)).date()


def previous_window(w: Window) -> Window:
    """The same number of days immediately before ``w``."""
    length = (w.last - w.first).days + 1
    return window(w.first - timedelta(days=length), w.first - timedelta(days=1), w.timezone)


def month_start(day: date) -> date:
    return day.replace(day=1)


def same_days_last_month(day: date) -> tuple[date, date]:
    """Month-over-month comparison span for "month to date as of ``day``": the previous
    month's 1st through the same day of the month, clamped to that month's length."""
    prev_last = month_start(day) - timedelta(days=1)
    return prev_last.replace(day=1), prev_last.replace(day=min(day.day, prev_last.day))
