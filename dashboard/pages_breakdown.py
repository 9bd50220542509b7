"""Breakdown: cost by any dimension or tag (``/breakdown?tag=pr`` opens the tag view), an
optional second level, a sortable table with cost per request, and a CSV download."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui

NONE = "—"
ALL = "all"
STATUSES = (ALL, "ok", "failed", "error", "timeout", "cancelled")
"""failed = error, timeout or cancelled: calls billed for what the provider did before the end."""
ALONE = ("canonical_model",)
"""Levels the read API groups on their own (no second level, no status filter)."""


def _choice_label(value: str) -> str:
    if value.startswith("tag:"):
        return f"tag · {value[4:]}"
    return ui.DIMENSION_LABELS.get(value, value)


def to_csv(
    levels: list[str], rows: list[dict[str, Any]], shown: dict[str, Any] | None = None
) -> str:
    """Exact decimal strings, as the API gave them; with a display currency, the converted
    cost (exact, day by day) and the rates it used beside the USD."""
    out = io.StringIO()
    writer = csv.writer(out)
    extra = [f"cost_{shown['currency'].lower()}", "rates"] if shown else []
    writer.writerow(
        [
            *levels,
            "requests",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "cost_per_request_usd",
            "share_pct",
            *extra,
        ]
    )
    rates = ui.rate_text(shown) if shown else ""
    for r in rows:
        writer.writerow(
            [
                *r["keys"],
                r["requests"],
                r["input_tokens"],
                r["output_tokens"],
                r["cost_usd"],
                r["cost_per_request_usd"] or "",
                r["share_pct"] or "",
                *([r.get("display_cost") or "", rates] if shown else []),
            ]
        )
    return out.getvalue()


def render(ctx: ui.PageContext) -> None:
    st.title("Breakdown")
    st.caption(ctx.range_label)
    tag_keys = [t["key"] for t in ui.fetch(ctx, "/v1/tags", **ctx.range)["tags"]]
    params = st.query_params
    deep_tag = params.get("tag")
    if deep_tag and deep_tag not in tag_keys:
        tag_keys = [deep_tag, *tag_keys]
    choices = list(ui.DIMENSION_LABELS) + [f"tag:{k}" for k in tag_keys]
    wanted = f"tag:{deep_tag}" if deep_tag else params.get("by", "customer")
    index = choices.index(wanted) if wanted in choices else 0
    left, right, status_col, limit_col = st.columns([2, 2, 1, 1])
    by = left.selectbox("Group by", choices, index=index, format_func=_choice_label, key="by")
    then_choices = [NONE] + [c for c in choices if c != by and c not in ALONE]
    then = right.selectbox(
        "Then by", then_choices, format_func=_choice_label, key="then", disabled=by in ALONE
    )
    # the read API filters one level (other than status itself) by status
    single = by not in ALONE and by != "status" and then == NONE
    wanted_status = params.get("status", ALL)
    status = status_col.selectbox(
        "Status",
        STATUSES,
        index=STATUSES.index(wanted_status) if wanted_status in STATUSES else 0,
        key="status",
        disabled=not single,
        help="failed = error, timeout or cancelled (billed for what the provider did)",
    )
    limit = limit_col.selectbox("Rows", [25, 100, 500, 1000], index=1, key="limit")
    # keep the address bar a deep link to what is shown
    if by.startswith("tag:"):
        if params.get("tag") != by[4:] or "by" in params:
            params.clear()
            params["tag"] = by[4:]
    elif params.get("by") != by or "tag" in params:
        params.clear()
        params["by"] = by

    if single and status != ALL:
        params["status"] = status
    elif "status" in params:
        del params["status"]
    body = ui.fetch(
        ctx,
        "/v1/breakdown",
        by=by,
        then=None if then == NONE or by in ALONE else then,
        status=status if single and status != ALL else None,
        limit=limit,
        **ctx.range,
    )
    rows = body["rows"]
    totals = body["totals"]
    cols = st.columns(3)
    label = "Spend in range" if body.get("status") is None else f"Spend ({body['status']})"
    cols[0].metric(label, ui.money(totals["cost_usd"]))
    cols[1].metric("Requests", f"{totals['requests']:,}")
    cols[2].metric("Groups", f"{len(rows):,}" + ("+" if body["truncated"] else ""))
    shown = body.get("display")
    ui.display_caption(shown, label)
    if shown and shown.get("note"):
        st.caption(shown["note"])
    if not rows:
        st.info("No spend in this range.")
        return
    names = [_choice_label(level) for level in body["levels"]]
    st.subheader("Cost by " + " → ".join(names))
    frame = pd.DataFrame(
        {
            **{name: [ui.label(r["keys"][i]) for r in rows] for i, name in enumerate(names)},
            "Requests": [r["requests"] for r in rows],
            "Input tokens": [r["input_tokens"] for r in rows],
            "Output tokens": [r["output_tokens"] for r in rows],
            # exact decimals (Arrow decimal128): sortable, and never rounded through a float
            "Cost (USD)": [Decimal(r["cost_usd"]) for r in rows],
            **(
                {
                    f"Cost ({shown['currency']})": [
                        ui.in_currency(r.get("display_cost"), shown["currency"]) for r in rows
                    ]
                }
                if shown
                else {}
            ),
            "Cost / request": [Decimal(r["cost_per_request_usd"] or 0) for r in rows],
            "Share %": [Decimal(r["share_pct"] or 0) for r in rows],
        }
    )
    charted = frame
    if body["levels"][0].startswith("tag:"):  # untagged spend would dwarf the tagged values
        charted = frame[[r["keys"][0] != "" for r in rows]]
        st.caption("(none) = events without this tag; in the table, not the chart.")
    top = charted.head(15).copy()
    top["group"] = top[names].agg(" · ".join, axis=1)
    top["Cost (USD)"] = top["Cost (USD)"].astype(float)  # chart geometry only
    ui.bar_chart(top, "group", "Cost (USD)", f"Top {len(top)} by cost")
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "Cost (USD)": ui.money_column(frame["Cost (USD)"]),
            "Cost / request": ui.money_column(frame["Cost / request"]),
            "Share %": st.column_config.NumberColumn(format="%.2f%%"),
        },
    )
    if body["truncated"]:
        st.caption(f"Showing the {limit} most expensive groups.")
    st.download_button(
        "Download CSV",
        to_csv(body["levels"], rows, shown),
        file_name=f"costobs-breakdown-{'-'.join(body['levels'])}.csv".replace(":", "_"),
        mime="text/csv",
    )


if __name__ == "__main__":
    render(ui.context())
