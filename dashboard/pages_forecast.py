"""Forecast: month-end estimate and the next 30 days from a seasonal (weekly) and a linear
model on the range's zero-filled daily history, their fit quality, and the day a monthly
budget is projected to run out."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.api import ApiError


def budget_from_alert_rules(ctx: ui.PageContext) -> str | None:
    """A monthly_budget alert rule's budget, when the alerting API has one."""
    try:
        rules = ctx.api.get("/v1/alerts/rules").get("rules", [])
    except ApiError:
        return None
    for rule in rules:
        if rule.get("kind") == "monthly_budget":
            value = (rule.get("config") or {}).get("budget_usd")
            if value is not None:
                return str(value)
    return None


def _chart(body: dict[str, Any]) -> None:
    rows = [
        {"date": p["date"], "series": "actual", "cost": float(p["cost_usd"])}
        for p in body["history"]
    ]
    for m in body["models"]:
        name = f"{m['name']} forecast"
        rows += [
            {"date": p["date"], "series": name, "cost": float(p["cost_usd"])} for p in m["daily"]
        ]
    chart = (
        alt.Chart(pd.DataFrame(rows), title="Daily spend: history and next 30 days")
        .mark_line(point=False)
        .encode(
            x=alt.X("date:T", title=None, axis=alt.Axis(format="%b %d")),
            y=alt.Y("cost:Q", title="USD", axis=alt.Axis(format="$,.2f")),
            color=alt.Color("series:N", title=None),
            strokeDash=alt.condition(
                alt.datum.series == "actual", alt.value([1, 0]), alt.value([5, 3])
            ),
            tooltip=["series:N", alt.Tooltip("date:T"), alt.Tooltip("cost:Q", format="$,.2f")],
        )
        .properties(height=320)
    )
    st.altair_chart(chart, width="stretch")


def render(ctx: ui.PageContext) -> None:
    st.title("Forecast")
    st.caption(f"Fitted on the range's daily spend, as of {ctx.last:%b %d, %Y}")
    default = budget_from_alert_rules(ctx) or ""
    text = st.text_input(
        "Monthly budget (USD)", value=default, key="budget", placeholder="e.g. 1000"
    )
    budget = None
    if text.strip():
        try:
            budget = str(Decimal(text.strip().replace(",", "").lstrip("$")))
        except InvalidOperation:
            st.error("The budget must be a number.")
    body = ui.fetch(
        ctx,
        "/v1/forecast",
        as_of=ctx.last.isoformat(),
        history_days=min(365, max(14, ctx.days)),
        monthly_budget_usd=budget,
    )
    if not body["models"]:
        st.info("Not enough history to forecast yet: at least two days with spend are needed.")
        return
    cols = st.columns(3)
    cols[0].metric("Month to date", ui.money(body["month_to_date_usd"]))
    cols[1].metric(
        "Month-end estimate", ui.money(body["month_end_usd"]), help=f"{body['recommended']} model"
    )
    cols[2].metric("Next 30 days", ui.money(body["next_30_days_usd"]))
    shown = body.get("display")
    if shown:
        code = shown["currency"]
        rate = ui.rate_text({**shown, "rates": None})
        st.caption(
            f"In {code}: month to date **{ui.in_currency(shown['month_to_date'], code)}** "
            f"(day by day) · month end **{ui.in_currency(shown['month_end'], code)}** · next "
            f"30 days **{ui.in_currency(shown['next_30_days'], code)}** · days to come at "
            f"today's rate: {rate}"
        )
    if budget is not None:
        run_out = body["budget_run_out_date"]
        if run_out:
            st.error(
                f"At this pace the monthly budget of {ui.money(budget)} runs out on {run_out}.",
                icon=":material/warning:",
            )
        else:
            st.success(f"Projected to stay within the monthly budget of {ui.money(budget)}.")
    _chart(body)
    st.subheader("Fit quality")
    st.dataframe(
        pd.DataFrame(
            {
                "Model": [
                    m["name"] + (" (recommended)" if m["name"] == body["recommended"] else "")
                    for m in body["models"]
                ],
                "R²": [m["r2"] for m in body["models"]],
                "Adjusted R²": [m["adjusted_r2"] for m in body["models"]],
                "Mean abs. error / day": [ui.money(m["mae_usd"]) for m in body["models"]],
                "Month end": [ui.money(m["month_end_usd"]) for m in body["models"]],
                "Next 30 days": [ui.money(m["next_30_days_usd"]) for m in body["models"]],
                "Budget runs out": [m["budget_run_out_date"] or "—" for m in body["models"]],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Seasonal: trend plus a level per weekday. Linear: trend only. Days without "
        "events count as $0 from the org's first day with spend."
    )


if __name__ == "__main__":
    render(ui.context())
