"""Who may look: nobody logs in on embedded loopback; server mode needs OIDC (``st.login``)
or the configured password. The session then reads with its org's credential."""

from __future__ import annotations

import hmac

import streamlit as st

from dashboard.config import DashboardConfig

AUTHED_KEY = "costobs_password_ok"


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def credential(config: DashboardConfig) -> str:
    """The read key for this session, or stop the page at a login screen."""
    if config.auth == "none":
        if not config.api_key:
            st.error("Set COSTOBS_DASHBOARD_API_KEY: the read key the dashboard uses.")
            st.stop()
        return config.api_key
    if config.auth == "oidc":
        if not st.user.is_logged_in:
            st.title("CostObs")
            st.write("Sign in to see your organisation's spend.")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
        email = st.user.get("email")
        key = config.key_for_email(str(email) if email else None)
        if key is None:
            st.error(f"{email} is not mapped to an organisation (COSTOBS_DASHBOARD_ORGS).")
            st.button("Sign out", on_click=st.logout)
            st.stop()
        with st.sidebar:
            st.caption(f"Signed in as {email}")
            st.button("Sign out", on_click=st.logout)
        return key
    assert config.password is not None and config.api_key is not None
    if not st.session_state.get(AUTHED_KEY):
        st.title("CostObs")
        with st.form("login"):
            password = st.text_input("Password", type="password")
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            if hmac.compare_digest(password.encode(), config.password.encode()):
                st.session_state[AUTHED_KEY] = True
                st.rerun()
            st.error("Wrong password.")
        st.stop()
    with st.sidebar:
        if st.button("Sign out"):
            st.session_state[AUTHED_KEY] = False
            st.rerun()
    return config.api_key
