"""Response shapes of converted figures (the org's display currency beside the USD truth)."""

from __future__ import annotations

from pydantic import BaseModel, Field

_RATE = "units of the display currency per 1 USD"


class RateUse(BaseModel):
    """The rate a figure (or a run of days) was converted with."""

    from_: str = Field(alias="from", description="first day converted with it, YYYY-MM-DD")
    to: str = Field(description="last day converted with it")
    rate: str | None = Field(description=f"{_RATE}; null: before the first rate, not converted")
    rate_date: str | None = Field(description="the day the rate was set for")
    fallback: bool = Field(
        description="true: some of these days had no rate of their own and use the latest "
        "earlier one (rate_date)"
    )


class DayDisplay(BaseModel):
    """One day's figure in the display currency."""

    currency: str
    cost: str | None = Field(description="exact; null when the day has no rate yet")
    rate: str | None = Field(description=_RATE)
    rate_date: str | None
    fallback: bool = Field(description="true: the day had no rate; rate_date's is used")


class RangeDisplay(BaseModel):
    """A figure over several days, converted day by day with each day's rate."""

    currency: str
    minor_units: int = Field(description="ISO 4217 digits to round to for display (half-even)")
    cost: str | None = Field(description="exact Σ day cost × day rate; null if a day lacks one")
    rates: list[RateUse] = Field(description="the rates used, by run of days")


class BreakdownDisplay(RangeDisplay):
    note: str | None = Field(description="why rows are not converted, when they are not")


class ForecastDisplay(BaseModel):
    """The forecast in the display currency. Past days convert with their own rates; days to
    come have none yet, so they use today's (the latest) rate."""

    currency: str
    minor_units: int
    rate: str | None = Field(description="today's rate, used for every day to come")
    rate_date: str | None
    fallback: bool
    month_to_date: str | None = Field(description="exact, day by day")
    month_end: str | None = Field(description="month to date + the projected rest at `rate`")
    next_30_days: str | None
    history: list[DayDisplay] = Field(description="one per `history` day of the forecast")


class RowDisplay(BaseModel):
    """One dated row's figures in the display currency, at the rate of its day."""

    currency: str
    rate: str | None
    rate_date: str | None
    fallback: bool
    tracked: str | None = None
    billed: str | None = None
    drift: str | None = None
    untracked: str | None = None


class ReconcileDisplay(BaseModel):
    """The converted totals: each row at its day's rate, summed exactly."""

    currency: str
    minor_units: int
    tracked: str | None
    billed: str | None
    drift: str | None
    untracked: str | None


class RatesUsed(BaseModel):
    """The rates that converted a list's rows (each row day by day, per run of days)."""

    currency: str
    minor_units: int
    rates: list[RateUse]
    note: str | None = Field(description="why rows are not converted, when they are not")


class ModelDriftDisplay(BaseModel):
    """``/v1/reconcile/models`` totals: each provider-day-model row at its UTC day's rate, summed
    exactly; ``rates`` names the rate of every run of days in the range."""

    currency: str
    minor_units: int
    tracked: str | None
    billed: str | None
    drift: str | None
    rates: list[RateUse]
