"""Prompts: a prompt key's versions compared (cost per request, tokens, p95 latency), overall
and per model."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui


def _per_request(body: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Cost per request in the display currency (converted day by day), when the org has one."""
    shown = body.get("display")
    if not shown:
        return {}
    code = shown["currency"]
    return {
        f"Cost / request ({code})": [
            ui.in_currency(r.get("display_cost_per_request"), code) for r in rows
        ]
    }


def render(ctx: ui.PageContext) -> None:
    st.title("Prompts")
    st.caption(ctx.range_label)
    prompts = ui.fetch(ctx, "/v1/prompts", **ctx.range)["prompts"]
    if not prompts:
        st.info(
            "No events with a prompt key or version in this range (set prompt_key / "
            "prompt_version when you call the model)."
        )
        return
    keys = [p["prompt_key"] for p in prompts]
    key = st.selectbox("Prompt", keys, format_func=ui.label, key="prompt_key")
    across = st.toggle(
        "Models across clouds",
        key="models_across",
        help="one row per model however it was reached (Anthropic, Bedrock, Vertex, gateways)",
    )
    body = ui.fetch(
        ctx,
        "/v1/prompts/compare",
        prompt_key=key,
        model_by="canonical_model" if across else None,
        **ctx.range,
    )
    versions = body["versions"]
    frame = pd.DataFrame(
        {
            "Version": [ui.label(v["prompt_version"]) for v in versions],
            "Requests": [v["requests"] for v in versions],
            "Cost": [ui.money(v["cost_usd"]) for v in versions],
            "Cost / request": [ui.money(v["cost_per_request_usd"]) for v in versions],
            **_per_request(body, versions),
            "Avg input tokens": [round(float(v["avg_input_tokens"] or 0)) for v in versions],
            "Avg output tokens": [round(float(v["avg_output_tokens"] or 0)) for v in versions],
            "p95 latency ms": [v["p95_latency_ms"] for v in versions],
        }
    )
    chart = pd.DataFrame(
        {
            "version": frame["Version"],
            "cost per request": [float(v["cost_per_request_usd"] or 0) for v in versions],
        }
    )
    ui.bar_chart(chart, "version", "cost per request", "Cost per request by version")
    st.dataframe(frame, hide_index=True, width="stretch")
    st.subheader("Versions × models")
    rows = body["rows"]
    st.dataframe(
        pd.DataFrame(
            {
                "Version": [ui.label(r["prompt_version"]) for r in rows],
                "Model": [r["model"] for r in rows],
                "Requests": [r["requests"] for r in rows],
                "Cost / request": [ui.money(r["cost_per_request_usd"]) for r in rows],
                **_per_request(body, rows),
                "Avg input tokens": [round(float(r["avg_input_tokens"] or 0)) for r in rows],
                "Avg output tokens": [round(float(r["avg_output_tokens"] or 0)) for r in rows],
                "p50 latency ms": [r["p50_latency_ms"] for r in rows],
                "p95 latency ms": [r["p95_latency_ms"] for r in rows],
            }
        ),
        hide_index=True,
        width="stretch",
    )


if __name__ == "__main__":
    render(ui.context())
