"""Settings: API keys (list, create with the secret shown once, revoke), the price table in
use, the org's time zone, and its display currency with its exchange rates."""

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


def _currency(ctx: ui.PageContext) -> None:
    """Display currency and rates: USD stays stored; pages show converted figures beside it."""
    from costobs_server.currency import MINOR_UNITS

    st.subheader("Display currency")
    info = ui.fetch(ctx, "/v1/currency")
    code = info["display_currency"]
    today = info["today"]
    if today is None:
        st.caption("Figures are shown in USD, the stored currency.")
    elif today["rate"] is None:
        st.warning(f"No {code} rate yet: figures stay in USD until a rate is set or imported.")
    else:
        st.caption(
            f"Figures in {code} beside USD · today: {ui.rate_text({**today, 'currency': code})}"
        )
    rates = [r for r in info["rates"] if r["currency"] == code]
    if rates:
        st.dataframe(
            pd.DataFrame(
                {
                    "From": [r["date"] for r in rates[-30:]],
                    f"{code} per USD": [r["rate"] for r in rates[-30:]],
                    "Source": [r["source"] for r in rates[-30:]],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    if "admin" not in ctx.org["credential"]["scopes"]:
        st.caption("Changing the currency or its rates needs an admin credential.")
        return
    codes = sorted(MINOR_UNITS)
    left, right = st.columns([3, 1])
    chosen = left.selectbox("Display currency (ISO 4217)", codes, index=codes.index(code),
                            key="display_currency")  # fmt: skip
    if chosen != code and right.button(f"Use {chosen}", key="currency_save"):
        ctx.api.send("PUT", "/v1/currency", {"display_currency": chosen})
        st.rerun()
    if code == "USD":
        return
    with st.form("fixed_rate", clear_on_submit=True):
        st.markdown(f"**Fixed rate** — {code} per 1 USD from a day on (replaces later rates)")
        rate = st.text_input("Rate", placeholder="0.92")
        since = st.date_input("From", value=None)
        if st.form_submit_button("Set rate") and rate.strip():
            body = {"rate": rate.strip(), **({"from": since.isoformat()} if since else {})}
            try:
                ctx.api.send("PUT", f"/v1/currency/rates/{code}", body)
            except ApiError as exc:
                st.error(f"Rate not set: {exc.detail}")
            else:
                st.rerun()
    upload = st.file_uploader("Import rates (CSV: date,currency,rate)", type=["csv"])
    if upload is not None and st.button("Import", key="rates_import"):
        try:
            done = ctx.api.send("POST", "/v1/currency/rates", csv=upload.getvalue().decode())
        except (ApiError, UnicodeDecodeError) as exc:
            st.error(f"Nothing imported: {getattr(exc, 'detail', exc)}")
        else:
            st.success(f"Imported {done['imported']} rates.")


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
    _currency(ctx)
    _keys(ctx)


if __name__ == "__main__":
    render(ui.context())
