"""Alerts: rule list and alert history from ``/v1/alerts/*`` (the alerting component owns
those endpoints and this page's richer version). While they answer 404 the page says alert
rules are not available yet."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.api import ApiError


def _get(ctx: ui.PageContext, path: str, **params: Any) -> Any | None:
    try:
        return ctx.api.get(path, **params)
    except ApiError as exc:
        if exc.status == 404:
            return None
        st.error(f"The read API answered {exc.status}: {exc.detail}")
        st.stop()


def render(ctx: ui.PageContext) -> None:
    st.title("Alerts")
    rules = _get(ctx, "/v1/alerts/rules")
    if rules is None:
        st.info("Alert rules are not available yet on this server.", icon=":material/info:")
        return
    items = rules.get("rules", [])
    st.subheader("Rules")
    if not items:
        st.write("No alert rules yet.")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "Name": [r.get("name", "") for r in items],
                    "Kind": [r.get("kind", "") for r in items],
                    "Config": [str(r.get("config", "")) for r in items],
                    "Scope": [str(r.get("scope", "") or "all") for r in items],
                    "Enabled": [r.get("enabled", True) for r in items],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    history = _get(ctx, "/v1/alerts/history", limit=100) or {}
    fires = history.get("fires", [])
    st.subheader("History")
    if not fires:
        st.write("No alert has fired.")
    else:
        st.dataframe(pd.DataFrame(fires), hide_index=True, width="stretch")


if __name__ == "__main__":
    render(ui.context())
