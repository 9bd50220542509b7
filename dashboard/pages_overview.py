"""Overview: spend, tokens, requests and cost per request with their changes, spend on failed
calls and its share, spend over time, cost by provider, top models (one model across clouds and
gateways), a warning listing unpriced models, and one when dead letters exist."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import pages_first_run, ui


def _metrics(totals: dict[str, Any], change: dict[str, Any], against: str) -> None:
    cols = st.columns(4)
    cols[0].metric(
        "Spend",
        ui.money(totals["cost_usd"]),
        ui.pct(change["cost_usd"]),
        delta_color="inverse",
        help=f"Change {against}",
    )
    cols[1].metric("Tokens", ui.count(totals["total_tokens"]), ui.pct(change["total_tokens"]))
    cols[2].metric("Requests", f"{totals['requests']:,}", ui.pct(change["requests"]))
    cols[3].metric(
        "Avg cost / request",
        ui.money(totals["cost_per_request_usd"]),
        ui.pct(change["cost_per_request_usd"]),
        delta_color="inverse",
    )


def _failed(failed: dict[str, Any]) -> None:
    """Calls billed for what the provider did before they failed, timed out or were cut off."""
    cols = st.columns(4)
    kinds = ", ".join(f"{s} {ui.money(c)}" for s, c in failed["by_status"].items()) or "none"
    cols[0].metric(
        "Spend on failed calls",
        ui.money(failed["cost_usd"]),
        help="errors, timeouts and cancelled calls, with the usage known: " + kinds,
    )
    share = failed["share_pct"]
    cols[1].metric("Failed share of spend", "—" if share is None else f"{share}%")
    cols[2].metric("Failed calls", f"{failed['requests']:,}")


def _dead_letters(dead: dict[str, Any]) -> None:
    """Accepted messages that could not be stored are in no figure until re-driven."""
    if not dead["count"]:
        return
    streams = ", ".join(f"{n:,} {stream}" for stream, n in sorted(dead["by_stream"].items()))
    more = "" if dead["complete"] else " at least"
    st.warning(
        f"Dead letters:{more} {dead['count']:,} message(s) could not be stored ({streams}; "
        f"latest {dead['last_failure']}) and are missing from these figures. "
        "See why with `costobs dlq list`; after the fix, `costobs dlq replay --all`.",
        icon=":material/report:",
    )


def render(ctx: ui.PageContext) -> None:
    if not ctx.org["has_events"]:
        pages_first_run.render(ctx)
        return
    st.title("Overview")
    st.caption(ctx.range_label)
    unpriced = ui.fetch(ctx, "/v1/unpriced", **ctx.range)["models"]
    if unpriced:
        names = ", ".join(f"{m['provider']}/{m['model']} ({m['requests']:,})" for m in unpriced)
        st.warning(
            f"Unpriced models — tracked at $0 until the price table has a rate: {names}",
            icon=":material/warning:",
        )
    _dead_letters(ui.fetch(ctx, "/v1/dead-letters"))
    summary = ui.fetch(ctx, "/v1/summary", **ctx.range)
    _metrics(summary["totals"], summary["previous_period"]["change_pct"], "vs previous period")
    ui.display_caption(summary.get("display"))
    _failed(summary["failed"])
    mom = summary["month_over_month"]
    current = mom["current"]["range"]
    with st.expander(
        f"Month to date ({current['from']} – {current['to']}) vs the same days last month",
        expanded=False,
    ):
        _metrics(mom["current"]["totals"], mom["change_pct"], "month over month")
        ui.display_caption(mom["current"].get("display"), "Month to date")

    series = ui.fetch(ctx, "/v1/series", group_by="provider", **ctx.range)
    ui.daily_spend_chart(series["points"], series["groups"], "Daily spend by provider")

    left, right = st.columns(2)
    with left:
        providers = ui.fetch(ctx, "/v1/breakdown", by="provider", **ctx.range)["rows"]
        frame = pd.DataFrame(
            {
                "provider": [r["keys"][0] for r in providers],
                "cost": [float(r["cost_usd"]) for r in providers],
            }
        )
        ui.bar_chart(frame, "provider", "cost", "Cost by provider")
    with right:
        top = ui.fetch(ctx, "/v1/breakdown", by="canonical_model", limit=10, **ctx.range)
        models = top["rows"]
        shown = top.get("display")
        st.markdown(
            "**Top models**",
            help="one model across clouds and gateways: Anthropic, Bedrock, Vertex and "
            "gateway calls of claude-sonnet-4-5 are one row (Breakdown: Model for the ids sent)",
        )
        st.dataframe(
            pd.DataFrame(
                {
                    "Model": [r["keys"][0] for r in models],
                    "Requests": [r["requests"] for r in models],
                    "Cost": [ui.money(r["cost_usd"]) for r in models],
                    **(
                        {
                            f"Cost ({shown['currency']})": [
                                ui.in_currency(r.get("display_cost"), shown["currency"])
                                for r in models
                            ]
                        }
                        if shown
                        else {}
                    ),
                    "Share": [f"{r['share_pct']}%" for r in models],
                }
            ),
            hide_index=True,
            width="stretch",
        )


if __name__ == "__main__":
    render(ui.context())
