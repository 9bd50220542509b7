"""Settings: API keys (list, create with the secret shown once, revoke), the price table in
use, and the org's time zone."""

from __future__ import annotations

from zoneinfo import available_timezones

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.api import ApiError

NEW_SECRET = "settings_new_secret"


def _keys(ctx: ui.PageContext) -> None:
    st.subheader("API keys")
    if "admin" not in ctx.org["credential"]["scopes"]:
        st.info("This dashboard's credential has no admin scope, so it cannot manage keys.")
        return
    secret = st.session_state.pop(NEW_SECRET, None)
    if secret:
        st.success("Key created. Copy the secret now — it is not shown again.")
        st.code(secret, language=None)
    keys = ui.fetch(ctx, "/v1/keys")["keys"]
    st.dataframe(
        pd.DataFrame(
            {
                "Name": [k["name"] for k in keys],
                "Key": [k["prefix"] + "…" for k in keys],
                "Scopes": [", ".join(k["scopes"]) for k in keys],
                "Created": [k["created_at"][:19].replace("T", " ") for k in keys],
                "State": ["active" if k["active"] else "revoked" for k in keys],
                "Id": [k["id"] for k in keys],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    with st.form("create_key", clear_on_submit=True):
        name = st.text_input("New key name")
        scopes = st.multiselect("Scopes", ["ingest", "read", "admin"], default=["ingest"])
        if st.form_submit_button("Create key") and name.strip() and scopes:
            try:
                new = ctx.api.send("POST", "/v1/keys", {"name": name.strip(), "scopes": scopes})
            except ApiError as exc:
                st.error(f"Could not create the key: {exc.detail}")
            else:
                st.session_state[NEW_SECRET] = new["secret"]
                st.rerun()
    own = ctx.org["credential"]["id"]
    revocable = [k for k in keys if k["active"] and k["id"] != own]
    if revocable:
        left, right = st.columns([3, 1])
        target = left.selectbox(
            "Revoke a key",
            [k["id"] for k in revocable],
            format_func=lambda i: next(
                f"{k['name']} ({k['prefix']}…)" for k in revocable if k["id"] == i
            ),
            key="revoke_id",
        )
        if right.button("Revoke", type="secondary", key="revoke"):
            ctx.api.send("DELETE", f"/v1/keys/{target}")
            st.rerun()


def render(ctx: ui.PageContext) -> None:
    st.title("Settings")
    org = ctx.org
    cols = st.columns(3)
    cols[0].metric("Organisation", org["name"])
    cols[1].metric(
        "Price table",
        org["price_table_version"],
        help=f"{org['price_table_entries']} priced models",
    )
    cols[2].metric("Time zone", org["timezone"])
    st.subheader("Time zone")
    zones = sorted(available_timezones() | {"UTC"})
    zone = st.selectbox(
        "Org time zone (ranges and daily figures follow it)",
        zones,
        index=zones.index(org["timezone"]) if org["timezone"] in zones else 0,
        key="tz",
    )
    if zone != org["timezone"]:
        if "admin" in org["credential"]["scopes"]:
            if st.button(f"Use {zone}", key="tz_save"):
                ctx.api.send("PATCH", "/v1/org", {"timezone": zone})
                st.rerun()
        else:
            st.caption("Changing the time zone needs an admin credential.")
    _keys(ctx)


if __name__ == "__main__":
    render(ui.context())
