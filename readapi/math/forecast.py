"""Spend forecasting on daily history. Pure: numbers in, numbers out.

Two least-squares models on the zero-filled daily history (a day without events is a $0 day):

* ``linear``   — ``spend = a + b·t``.
* ``seasonal`` — ``spend = b·t + s[weekday]``: the same trend with one level per weekday, so a
  quiet weekend and a busy Monday are expected rather than averaged away. Needs two weeks.

Fit quality is in-sample R² and mean absolute error; the recommended model is the one with the
higher adjusted R² (which charges the seasonal model for its six extra parameters). Predictions
below zero are clamped to zero. Money leaves this module as floats rounded by the caller;
forecasts are estimates, unlike the exact tracked and billed figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

SEASONAL_MIN_DAYS = 14
LINEAR_MIN_DAYS = 2


@dataclass(frozen=True)
class Fit:
    name: str
    r2: float
    adjusted_r2: float
    mae: float
    params: int
    coef: tuple[float, ...]
    origin: date
    """Day with t = 0."""

    def predict(self, day: date) -> float:
        t = float((day - self.origin).days)
        if self.name == "linear":
            value = self.coef[0] + self.coef[1] * t
        else:
            value = self.coef[0] * t + self.coef[1 + day.weekday()]
        return max(0.0, value)


def _design(name: str, days: list[date], origin: date) -> np.ndarray:
    t = np.array([(d - origin).days for d in days], dtype=float)
    if name == "linear":
        return np.column_stack([np.ones_like(t), t])
    weekdays = np.zeros((len(days), 7))
    for i, d in enumerate(days):
        weekdays[i, d.weekday()] = 1.0
    return np.column_stack([t, weekdays])


def fit(name: str, history: list[tuple[date, float]]) -> Fit | None:
    """Least squares on ``history`` (consecutive days); None when too short for the model."""
    minimum = SEASONAL_MIN_DAYS if name == "seasonal" else LINEAR_MIN_DAYS
    if len(history) < minimum:
        return None
    days = [d for d, _ in history]
    y = np.array([v for _, v in history], dtype=float)
    origin = days[0]
    x = _design(name, days, origin)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    fitted = np.maximum(x @ coef, 0.0)
    residual = float(np.sum((y - fitted) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = (1.0 if residual < 1e-18 else 0.0) if total == 0 else 1.0 - residual / total
    n, p = len(y), x.shape[1]
    adjusted = 1.0 - (1.0 - r2) * (n - 1) / (n - p) if n > p else r2
    mae = float(np.mean(np.abs(y - fitted)))
    return Fit(name, r2, adjusted, mae, p, tuple(float(c) for c in coef), origin)


@dataclass(frozen=True)
class Outlook:
    fit: Fit
    daily: list[tuple[date, float]]
    """Predicted spend for ``as_of`` and the 29 days after it."""
    next_30_days: float
    month_end: float
    """Month-to-date actual through yesterday + today (the larger of actual so far and the
    prediction) + predictions for the rest of the month."""
    run_out: date | None
    """First day the month's cumulative spend exceeds the budget, if within this month."""


def outlook(
    model: Fit,
    as_of: date,
    month_actual: list[tuple[date, float]],
    budget: float | None,
) -> Outlook:
    """``month_actual``: actual spend for each day of ``as_of``'s month up to and including
    ``as_of`` (today, still partial)."""
    daily = [
        (as_of + timedelta(days=i), model.predict(as_of + timedelta(days=i))) for i in range(30)
    ]
    today_actual = sum(v for d, v in month_actual if d == as_of)
    month_days: list[tuple[date, float]] = [(d, v) for d, v in month_actual if d < as_of]
    month_days.append((as_of, max(today_actual, model.predict(as_of))))
    day = as_of + timedelta(days=1)
    while day.month == as_of.month:
        month_days.append((day, model.predict(day)))
        day += timedelta(days=1)
    run_out = None
    if budget is not None:
        running = 0.0
        for d, v in month_days:
            running += v
            if running > budget:
                run_out = d
                break
    return Outlook(
        model,
        daily,
        sum(v for _, v in daily),
        sum(v for _, v in month_days),
        run_out,
    )


def recommended(fits: list[Fit]) -> Fit | None:
    return max(fits, key=lambda f: (f.adjusted_r2, f.name == "seasonal"), default=None)
