"""Reconcile: tracked spend (our events) vs provider bills per provider and UTC day, drift,
drift % and untracked spend (billed spend no tracked event accounts for); drift explained per
model from the bills' line items, untracked models, and one-click fixes for a stable drift."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.api import ApiError


def _explained(ctx: ui.PageContext) -> None:
    """Drift per provider-day-model, untracked models, suggested overrides."""
    body = ui.fetch(ctx, "/v1/reconcile/models", **ctx.range)
    st.subheader("Drift by model")
    shown = body.get("display")
    code = shown["currency"] if shown else None

    def both(usd: str, converted: str | None) -> str:
        """The USD figure, and beside it the converted one (when the org shows another)."""
        return ui.money(usd) + (f" = {ui.in_currency(converted, code)}" if code else "")

    for untracked in body["untracked_models"]:
        st.warning(
            f"Untracked model: {untracked['provider']} bills {untracked['model']} "
            f"({both(untracked['billed_usd'], untracked.get('display_billed'))}) and no event "
            "tracks it — is a client not wrapped?",
            icon=":material/visibility_off:",
        )
    for i, s in enumerate(body["suggestions"]):
        st.info(
            f"{s['provider']} / {s['model']}: billed is {s['ratio']}× tracked on each of "
            f"{s['days']} days ({both(s['billed_usd'], s.get('display_billed'))} vs "
            f"{both(s['tracked_usd'], s.get('display_tracked'))}). "
            f"A discount override of {s['override']['multiplier']} from "
            f"{s['override']['from']} prices new events the way the provider bills.",
            icon=":material/tune:",
        )
        st.code(s["command"], language="bash")
        if st.button("Apply this override", key=f"apply_override_{i}"):
            try:
                ctx.api.send(
                    "POST", "/v1/price-overrides", {"spec": s["override"], "note": "Reconcile"}
                )
            except ApiError as exc:
                st.error(f"Not applied: {exc.detail}")
            else:
                st.success("Applied: events priced from now on use it.")
    rows = [r for r in body["rows"] if r["billed_usd"] is not None]
    if not rows:
        st.caption("No bill is itemised per model in this range.")
        return
    st.dataframe(
        pd.DataFrame(
            {
                "Date": [r["date"] for r in rows],
                "Provider": [r["provider"] for r in rows],
                "Model": [r["model"] or "(not per model)" for r in rows],
                "Tracked": [ui.money(r["tracked_usd"]) for r in rows],
                "Billed": [ui.money(r["billed_usd"]) for r in rows],
                "Drift": [ui.money(r["drift_usd"]) for r in rows],
                "Drift %": [ui.pct(r["drift_pct"]) or "—" for r in rows],
                **_converted(rows),
            }
        ),
        hide_index=True,
        width="stretch",
    )
    if shown:
        st.caption(f"{code} figures: each UTC day at its own rate · {ui.rate_text(shown)}")


def _converted(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The per-model rows in the display currency, with each day's rate (none: USD)."""
    if not rows or not rows[0].get("display"):
        return {}
    code = rows[0]["display"]["currency"]
    out = {
        f"{name} ({code})": [ui.in_currency(r["display"][key], code) for r in rows]
        for name, key in (("Tracked", "tracked"), ("Billed", "billed"), ("Drift", "drift"))
    }
    out["Rate (date)"] = [ui.day_rate(r["display"]) for r in rows]
    return out


def _in_currency(shown: dict[str, Any] | None) -> None:
    if not shown:
        return
    code = shown["currency"]
    figures = " · ".join(
        f"{name} **{ui.in_currency(shown[key], code)}**"
        for name, key in (("tracked", "tracked"), ("billed", "billed"), ("drift", "drift"),
                          ("untracked", "untracked"))
    )  # fmt: skip
    st.caption(f"In {code}: {figures} · each UTC day at its own rate (see the API's rows)")


def render(ctx: ui.PageContext) -> None:
    st.title("Reconcile")
    st.caption(
        f"{ctx.first:%b %d} – {ctx.last:%b %d, %Y}, UTC days (provider bills are per UTC day)"
    )
    body = ui.fetch(ctx, "/v1/reconcile", **ctx.range)
    totals = body["totals"]
    if not body["billed_data"]:
        st.info(
            "No billed data is present for this range. Bills arrive from billsyncd (set a "
            "provider admin key) or an import into billed_daily; until then only tracked spend "
            "is shown.",
            icon=":material/info:",
        )
        st.metric("Tracked spend", ui.money(totals["tracked_usd"]))
        _in_currency(body.get("display"))
        return
    cols = st.columns(4)
    cols[0].metric("Tracked", ui.money(totals["tracked_usd"]))
    cols[1].metric("Billed", ui.money(totals["billed_usd"]))
    cols[2].metric(
        "Drift",
        ui.money(totals["drift_usd"]),
        ui.pct(totals["drift_pct"]),
        delta_color="inverse",
        help="billed − tracked, on provider-days that have a bill",
    )
    cols[3].metric(
        "Untracked",
        ui.money(totals["untracked_usd"]),
        help="billed spend no tracked event accounts for (per provider-day)",
    )
    _in_currency(body.get("display"))
    providers = pd.DataFrame(
        {
            "Provider": [p["provider"] for p in body["providers"]],
            "Tracked": [ui.money(p["tracked_usd"]) for p in body["providers"]],
            "Billed": [ui.money(p["billed_usd"]) for p in body["providers"]],
            "Drift": [ui.money(p["drift_usd"]) for p in body["providers"]],
            "Drift %": [ui.pct(p["drift_pct"]) or "—" for p in body["providers"]],
            "Untracked": [ui.money(p["untracked_usd"]) for p in body["providers"]],
        }
    )
    st.dataframe(providers, hide_index=True, width="stretch")
    rows = body["rows"]
    names = sorted({r["provider"] for r in rows})
    chosen = st.selectbox("Provider", ["all", *names], key="reconcile_provider")
    shown = [r for r in rows if chosen in ("all", r["provider"])]
    long = []
    for r in shown:
        long.append({"date": r["date"], "kind": "tracked", "usd": float(r["tracked_usd"])})
        if r["billed_usd"] is not None:
            long.append({"date": r["date"], "kind": "billed", "usd": float(r["billed_usd"])})
    chart = (
        alt.Chart(pd.DataFrame(long), title="Tracked vs billed per day")
        .mark_line(point=True)
        .encode(
            x=alt.X("date:T", title=None, axis=alt.Axis(format="%b %d")),
            y=alt.Y("sum(usd):Q", title="USD", axis=alt.Axis(format="$,.2f")),
            color=alt.Color("kind:N", title=None),
            tooltip=["kind:N", alt.Tooltip("date:T"), alt.Tooltip("sum(usd):Q", format="$,.2f")],
        )
        .properties(height=300)
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        pd.DataFrame(
            {
                "Date": [r["date"] for r in shown],
                "Provider": [r["provider"] for r in shown],
                "Tracked": [ui.money(r["tracked_usd"]) for r in shown],
                "Billed": [ui.money(r["billed_usd"]) for r in shown],
                "Source": [r["billed_source"] or "—" for r in shown],
                "Drift": [ui.money(r["drift_usd"]) for r in shown],
                "Drift %": [ui.pct(r["drift_pct"]) or "—" for r in shown],
                "Untracked": [ui.money(r["untracked_usd"]) for r in shown],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    _explained(ctx)


if __name__ == "__main__":
    render(ui.context())
