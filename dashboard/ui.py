"""Shared page parts: the page context, the range picker, number formatting, charts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from costobs_server.vocabulary import money_text, usd
from dashboard.api import Api, ApiError

CONTEXT_KEY = "costobs_context"
PRESETS = ("Last 7 days", "Last 30 days", "Last 90 days", "Month to date", "Last month", "Custom")
DEFAULT_PRESET = "Last 30 days"
DIMENSION_LABELS = {
    "customer": "Customer",
    "feature": "Feature",
    "team": "Team",
    "user": "User",
    "model": "Model",
    "canonical_model": "Model across clouds",
    "provider": "Provider",
    "environment": "Environment",
    "prompt": "Prompt",
    "service": "Service",
    "status": "Status",
}


@dataclass(frozen=True)
class PageContext:
    api: Api
    org: dict[str, Any]
    first: date
    last: date

    @property
    def range(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def range_label(self) -> str:
        return f"{self.first:%b %d, %Y} – {self.last:%b %d, %Y} ({self.org['timezone']})"


def context() -> PageContext:
    ctx = st.session_state.get(CONTEXT_KEY)
    if not isinstance(ctx, PageContext):
        st.error("Open the dashboard from its main page.")
        st.stop()
    return ctx


# --- formatting -----------------------------------------------------------------------------


money = usd
"""Money on every page, one rule (``costobs_server.vocabulary.usd``): exact, at least cents."""


def money_places(values: Iterable[Decimal]) -> int:
    """Decimal places that show every digit of every value, at least cents."""
    return max([2, *(len(money_text(v).partition(".")[2]) for v in values)])


def money_column(values: Iterable[Decimal]) -> Any:
    """A sortable table column of money by the same rule: Streamlit formats numbers with a
    printf pattern, so the pattern carries the column's largest number of decimal places (no
    digit is rounded away; thousands are not grouped, printf has no grouping)."""
    return st.column_config.NumberColumn(format=f"$%.{money_places(values)}f")


def count(value: int | float | str | None) -> str:
    """Compact: 950, 12.3K, 4.56M, 1.2B."""
    if value is None:
        return "—"
    n = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return f"{n:,.0f}"


def pct(value: str | None) -> str | None:
    return None if value is None else f"{Decimal(value):+.1f}%"


def label(value: str) -> str:
    return value if value != "" else "(none)"


# --- data access with errors shown on the page ----------------------------------------------


def fetch(ctx: PageContext, path: str, **params: Any) -> Any:
    try:
        return ctx.api.get(path, **params)
    except ApiError as exc:
        st.error(f"The read API answered {exc.status}: {exc.detail}")
        st.stop()


# --- the range picker -----------------------------------------------------------------------


def preset_range(preset: str, today: date) -> tuple[date, date]:
    if preset == "Last 7 days":
        return today - timedelta(days=6), today
    if preset == "Last 90 days":
        return today - timedelta(days=89), today
    if preset == "Month to date":
        return today.replace(day=1), today
    if preset == "Last month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    return today - timedelta(days=29), today


def range_picker(today: date) -> tuple[date, date]:
    """In the sidebar on every page; dates are the org's local days."""
    with st.sidebar:
        preset = st.selectbox(
            "Range", PRESETS, index=PRESETS.index(DEFAULT_PRESET), key="range_preset"
        )
        first, last = preset_range(preset, today)
        if preset == "Custom":
            picked = st.date_input(
                "Dates", value=(first, last), max_value=today, key="range_custom"
            )
            if isinstance(picked, tuple) and len(picked) == 2:
                first, last = picked
        st.caption(f"{first:%b %d} – {last:%b %d, %Y}")
    return first, last


# --- charts ---------------------------------------------------------------------------------


def daily_spend_chart(points: list[dict[str, Any]], groups: list[str], title: str) -> None:
    rows = []
    for p in points:
        if groups:
            rows += [
                {"date": p["date"], "group": g, "cost": float(v)} for g, v in p["groups"].items()
            ]
        else:
            rows.append({"date": p["date"], "group": "spend", "cost": float(p["cost_usd"])})
    frame = pd.DataFrame(rows)
    chart = (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("date:T", title=None, axis=alt.Axis(format="%b %d")),
            y=alt.Y("sum(cost):Q", title="USD", axis=alt.Axis(format="$,.2f")),
            color=alt.Color("group:N", title=None, sort=groups or None),
            tooltip=[
                alt.Tooltip("date:T", format="%a %b %d"),
                alt.Tooltip("group:N"),
                alt.Tooltip("cost:Q", format="$,.4f"),
            ],
        )
        .properties(height=300)
    )
    st.altair_chart(chart, width="stretch")


def bar_chart(
    frame: pd.DataFrame, category: str, value: str, title: str, money_axis: bool = True
) -> None:
    # 3 significant digits on the axis ($0.015, $1,500), exact-ish cents in the tooltip
    axis_fmt, tip_fmt = ("$,.3~r", "$,.4f") if money_axis else (",.0f", ",.0f")
    chart = (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            y=alt.Y(
                f"{category}:N",
                sort="-x",
                title=None,
                axis=alt.Axis(labelOverlap=False, labelLimit=240),
            ),
            x=alt.X(f"{value}:Q", title=None, axis=alt.Axis(format=axis_fmt)),
            tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=tip_fmt)],
            color=alt.value("#4c78a8"),
        )
        .properties(height=max(160, 34 * len(frame)))
    )
    st.altair_chart(chart, width="stretch")


# --- the org's display currency (USD stays what is stored) ----------------------------------


def in_currency(value: str | None, code: str) -> str:
    """A converted figure for people: rounded half-even to the currency's minor units once,
    here at the edge (the read API's figures are exact); "—" when it has no rate."""
    if value is None:
        return "—"
    from costobs_server.currency import currency, display

    return display(Decimal(value), currency(code))


def rate_text(block: dict[str, Any]) -> str:
    """The rates a converted figure used, with their dates, and which days fell back."""
    code = block["currency"]
    parts = []
    for r in block.get("rates") or [block]:
        days = (
            f"{r['from']}–{r['to']}: " if "from" in r and len(block.get("rates") or []) > 1 else ""
        )
        if r.get("rate") is None:
            parts.append(f"{days}no {code} rate yet (not converted)")
            continue
        text = f"{days}{r['rate']} {code}/USD of {r['rate_date']}"
        if r.get("fallback"):
            text += " (latest earlier rate for days without one)"
        parts.append(text)
    return "; ".join(parts)


def day_rate(shown: dict[str, Any]) -> str:
    """One day's rate in a table cell: ``0.92 (2026-11-02)``, ``, earlier`` when the day has
    none of its own; "—" before the first rate."""
    if shown.get("rate") is None:
        return "—"
    return f"{shown['rate']} ({shown['rate_date']}{', earlier' if shown['fallback'] else ''})"


def display_caption(block: dict[str, Any] | None, what: str = "Spend") -> None:
    """The converted total beside the USD one, with the rates it used."""
    if not block:
        return
    converted = in_currency(block.get("cost"), block["currency"])
    st.caption(f"{what} in {block['currency']}: **{converted}** · converted day by day · "
               f"{rate_text(block)}")  # fmt: skip
