"""Requests: raw events filtered by provider, model, status, feature, customer, user, trace id
and tag; newest first with keyset pages; one request's details."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui

PAGE_SIZE = 50
CURSORS = "requests_cursors"
FILTERS = "requests_filters"


def _filters() -> dict[str, Any]:
    with st.expander("Filters", expanded=True):
        a, b, c, d = st.columns(4)
        provider = a.text_input("Provider", key="f_provider")
        model = b.text_input("Model", key="f_model")
        status = c.selectbox("Status", ["any", "ok", "error"], key="f_status")
        feature = d.text_input("Feature", key="f_feature")
        e, f, g, h = st.columns(4)
        customer = e.text_input("Customer", key="f_customer")
        user = f.text_input("User", key="f_user")
        trace = g.text_input("Trace id", key="f_trace")
        tag = h.text_input("Tag (key or key:value)", key="f_tag")
    return {
        "provider": provider.strip() or None,
        "model": model.strip() or None,
        "status": None if status == "any" else status,
        "feature": feature.strip() or None,
        "customer_id": customer.strip() or None,
        "user_id": user.strip() or None,
        "trace_id": trace.strip() or None,
        "tag": tag.strip() or None,
    }


def _converted(items: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each request's cost in the display currency and the rate of its day (none: USD)."""
    shown = [i.get("display") for i in items]
    if not any(shown):
        return {}
    code = next(s["currency"] for s in shown if s)
    return {
        f"Cost ({code})": [ui.in_currency(s and s["cost"], code) for s in shown],
        "Rate (date)": [
            "—" if not s or s["rate"] is None
            else f"{s['rate']} ({s['rate_date']}{', earlier' if s['fallback'] else ''})"
            for s in shown
        ],
    }  # fmt: skip


def render(ctx: ui.PageContext) -> None:
    st.title("Requests")
    st.caption(ctx.range_label)
    filters = {**_filters(), **ctx.range}
    if st.session_state.get(FILTERS) != filters:  # new filters: back to the newest page
        st.session_state[FILTERS] = filters
        st.session_state[CURSORS] = [None]
    cursors: list[str | None] = st.session_state[CURSORS]
    body = ui.fetch(ctx, "/v1/requests", limit=PAGE_SIZE, cursor=cursors[-1], **filters)
    items = body["items"]
    page_no = len(cursors)
    prev_col, info_col, next_col = st.columns([1, 3, 1])
    if prev_col.button("← Newer", disabled=page_no == 1, key="newer"):
        cursors.pop()
        st.rerun()
    info_col.caption(f"Page {page_no} · {len(items)} requests, newest first")
    if next_col.button("Older →", disabled=body["next_cursor"] is None, key="older"):
        cursors.append(body["next_cursor"])
        st.rerun()
    if not items:
        st.info("No requests match.")
        return
    frame = pd.DataFrame(
        {
            "Time (UTC)": [i["timestamp"].replace("T", " ")[:19] for i in items],
            "Provider": [i["provider"] for i in items],
            "Model": [i["model"] for i in items],
            "Feature": [ui.label(i["feature"]) for i in items],
            "Customer": [ui.label(i["customer_id"]) for i in items],
            "Status": [i["status"] for i in items],
            "Input": [i["input_tokens"] for i in items],
            "Output": [i["output_tokens"] for i in items],
            "Latency ms": [i["latency_ms"] for i in items],
            "Cost": [ui.money(i["cost_usd"]) for i in items],
            **_converted(items),
            "Request id": [i["request_id"] for i in items],
        }
    )
    st.dataframe(frame, hide_index=True, width="stretch")
    ids = [i["request_id"] for i in items]
    chosen = st.selectbox("Request details", ["—", *ids], key="detail_id")
    if chosen != "—":
        item = next(i for i in items if i["request_id"] == chosen)
        detail = ui.fetch(ctx, f"/v1/requests/{chosen}", timestamp=item["timestamp"])
        cols = st.columns(4)
        shown = detail.get("display")
        cols[0].metric(
            "Cost",
            ui.money(detail["cost_usd"]),
            help=None if not shown else ui.rate_text(shown),
        )
        cols[1].metric("SDK estimate", ui.money(detail["sdk_cost_usd"]))
        cols[2].metric(
            "Tokens in / out", f"{detail['input_tokens']:,} / {detail['output_tokens']:,}"
        )
        cols[3].metric("Latency", f"{detail['latency_ms']:,} ms")
        if shown:
            st.caption(
                f"Cost in {shown['currency']}: **{ui.in_currency(shown['cost'], shown['currency'])}"
                f"** · {ui.rate_text(shown)}"
            )
        st.json(detail)


if __name__ == "__main__":
    render(ui.context())
