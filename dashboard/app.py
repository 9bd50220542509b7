"""CostObs dashboard entry point: ``streamlit run dashboard/app.py`` (``costobs up`` does it).

Login (server mode), the org from the read API, the range picker in the sidebar, then the
page chosen in the navigation. Every figure comes from the read API."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import streamlit as st

from costobs_server.errors import ConfigError
from dashboard import auth, config, ui
from dashboard.api import Api, ApiError

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="CostObs", page_icon="💸", layout="wide")

try:
    settings = config.load(auth.oidc_configured())
except ConfigError as exc:
    st.error(f"Dashboard configuration: {exc}")
    st.stop()

api = Api(settings.api_url, auth.credential(settings))
try:
    org = api.get("/v1/org")
except ApiError as exc:
    if exc.status in (401, 403):
        st.error(f"The dashboard's credential cannot read this org ({exc.status}: {exc.detail}).")
    else:
        st.error(f"The read API is not available: {exc.detail}")
    st.stop()

has_events = bool(org["has_events"])


def page(file: str, title: str, url: str, icon: str, default: bool = False) -> st.Page:
    return st.Page(HERE / file, title=title, url_path=url, icon=icon, default=default)


pages = {
    "Spend": [
        page(
            "pages_first_run.py",
            "Get started",
            "get-started",
            ":material/rocket_launch:",
            default=not has_events,
        ),
        page(
            "pages_overview.py", "Overview", "overview", ":material/dashboard:", default=has_events
        ),
        page("pages_breakdown.py", "Breakdown", "breakdown", ":material/stacked_bar_chart:"),
        page("pages_requests.py", "Requests", "requests", ":material/list:"),
        page("pages_prompts.py", "Prompts", "prompts", ":material/compare_arrows:"),
        page("pages_forecast.py", "Forecast", "forecast", ":material/trending_up:"),
        page("pages_reconcile.py", "Reconcile", "reconcile", ":material/receipt_long:"),
    ],
    "Operate": [
        page("pages_alerts.py", "Alerts", "alerts", ":material/notifications:"),
        page("pages_settings.py", "Settings", "settings", ":material/settings:"),
    ],
}
navigation = st.navigation(pages)

with st.sidebar:
    st.markdown(f"**{org['name']}**")
first, last = ui.range_picker(date.fromisoformat(org["today"]))
st.session_state[ui.CONTEXT_KEY] = ui.PageContext(api, org, first, last)
navigation.run()
