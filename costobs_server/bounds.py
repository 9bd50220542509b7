"""What the store can hold and what ingest admits: the supported date range, shared by the
wire schema and every read parameter, and the per-event limits set in settings. Pure: no I/O.

The supported range is **2000-01-01 .. 2099-12-31** (UTC days; for an instant, the date
written in it). The binding store columns are the rollups' ``Date`` (1970-01-01 ..
2149-06-06) and ``DateTime`` hours (1970-01-01 .. 2106-02-07 06:28 UTC); ``events.timestamp``
is a ``DateTime64(3)`` (1900 .. 2299). The reads derive instants beyond the days they are
given — the previous period (up to ``MAX_RANGE_DAYS`` ≈ 10 years earlier), local midnights
in zones up to ±14 h — so the range keeps a decade of margin below and six years above, and
every instant a read or an event can produce stays inside every column. Outside it
ClickHouse fails (code 457) or silently clamps, and Python's ``datetime`` overflows near
years 1 and 9999: hence one check here, at the edge, instead of 500s further in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator

from costobs_server.errors import InvalidInput
from costobs_server.settings import Settings

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
RANGE_TEXT = f"{FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()}"

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
"""An RFC 3339 timestamp with its offset. Pydantic would also take unix seconds, as a number
or as a string of digits: the wire does not."""


def outside_range(day: date) -> str | None:
    """Why ``day`` cannot be stored or read, or None."""
    if FIRST_DAY <= day <= LAST_DAY:
        return None
    return f"{day.isoformat()} is outside the supported range {RANGE_TEXT}"


def supported_day(day: date) -> date:
    """A pydantic ``AfterValidator``: the day, or ``ValueError`` saying the supported range."""
    problem = outside_range(day)
    if problem:
        raise InvalidInput(problem)
    return day


def supported_instant(instant: datetime) -> datetime:
    """The same for an instant, judged by the date written in it: no conversion, so an
    instant near year 1 or 9999 cannot overflow before it is refused."""
    supported_day(instant.date())
    return instant


def rfc3339_text(value: Any) -> Any:
    """A pydantic ``BeforeValidator``: only RFC 3339 text becomes a timestamp."""
    if not isinstance(value, str) or RFC3339.fullmatch(value) is None:
        raise InvalidInput("must be an RFC 3339 timestamp with offset, e.g. 2026-11-20T10:00:00Z")
    return value


def iso_day_text(value: Any) -> Any:
    """A pydantic ``BeforeValidator``: only ``YYYY-MM-DD`` text becomes a date."""
    if isinstance(value, date):  # already parsed (a Python caller)
        return value
    if not isinstance(value, str) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is None:
        raise InvalidInput("must be a date written YYYY-MM-DD")
    return value


@dataclass(frozen=True)
class EventLimits:
    """Per-event limits (settings ``COSTOBS_MAX_EVENT_*`` and ``COSTOBS_MAX_CLOCK_SKEW_S``)."""

    max_age: timedelta | None
    """How far back a timestamp may lie; None = back to the supported range (a backfill)."""
    max_skew: timedelta
    """How far ahead of the server clock a timestamp may lie."""
    max_quantity: int
    """Cap on every usage count (and ``audio_seconds``) of one event."""
    max_cost: Decimal
    """Cap on the costs an event states (``cost_usd``, ``provider_cost_usd``)."""


def event_limits(settings: Settings, *, backfill: bool = False) -> EventLimits:
    """The per-event limits of the settings; a backfill lifts the age limit."""
    return EventLimits(
        max_age=None if backfill else timedelta(days=settings.max_event_age_days),
        max_skew=timedelta(seconds=settings.max_clock_skew_s),
        max_quantity=settings.max_event_quantity,
        max_cost=settings.max_event_cost_usd,
    )


AGE_HINT = "COSTOBS_MAX_EVENT_AGE_DAYS; an admin key may backfill with ?backfill=true"


class Admission:
    """What makes schema-valid events inadmissible under ``limits`` at ``now`` (aware UTC),
    each problem naming its field: the bounds computed once (this runs for every event ingest
    accepts, so each check is a comparison or two)."""

    def __init__(self, limits: EventLimits, now: datetime) -> None:
        self.limits = limits
        self.now = now
        self.latest = now + limits.max_skew
        self.earliest = now - limits.max_age if limits.max_age is not None else None
        self.quantity_digits = len(str(limits.max_quantity))
        self.cost_digits = len(str(int(limits.max_cost)))

    def problems(self, event: Mapping[str, Any]) -> str | None:
        limits = self.limits
        problems = []
        ts: datetime = event["timestamp"]
        if ts > self.latest:
            ahead = int((ts - self.now).total_seconds())
            problems.append(
                f"timestamp: {ts.isoformat()} is {ahead} s ahead of the server clock; at most "
                f"{int(limits.max_skew.total_seconds())} s (COSTOBS_MAX_CLOCK_SKEW_S)"
            )
        elif self.earliest is not None and ts < self.earliest:
            assert limits.max_age is not None
            problems.append(
                f"timestamp: {ts.isoformat()} is older than {limits.max_age.days} days ({AGE_HINT})"
            )
        usage = event.get("usage")
        if usage:
            for field, value in usage.items():
                if field in ("image_size", "image_quality"):
                    continue
                if _over(value, limits.max_quantity, self.quantity_digits):
                    problems.append(
                        f"usage.{field}: {value} is over the per-event cap of "
                        f"{limits.max_quantity} (COSTOBS_MAX_EVENT_QUANTITY)"
                    )
        for field in ("cost_usd", "provider_cost_usd"):
            value = event.get(field)
            if value is not None and _over(value, limits.max_cost, self.cost_digits):
                problems.append(
                    f"{field}: {value} is over the per-event cap of {limits.max_cost} "
                    "(COSTOBS_MAX_EVENT_COST_USD)"
                )
        return "; ".join(problems) or None


def _over(value: int | str, cap: int | Decimal, cap_digits: int) -> bool:
    """Counts are ints; fractional quantities and money are decimal strings (never floats),
    whose whole part settles most comparisons without a Decimal."""
    if isinstance(value, int):
        return value > cap
    whole = value.partition(".")[0]
    if len(whole) < cap_digits:
        return False
    try:
        return Decimal(value) > cap
    except InvalidOperation:  # the schema admits only decimal text; refuse anything else
        return True


SupportedDay = Annotated[date, AfterValidator(supported_day)]
"""A date parameter or field within the supported range (a pydantic/FastAPI type)."""
SupportedInstant = Annotated[datetime, AfterValidator(supported_instant)]
"""A timestamp parameter or field within the supported range."""
