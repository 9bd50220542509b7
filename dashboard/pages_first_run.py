"""First run: what to do when the org has no events yet, instead of empty charts."""

from __future__ import annotations

import streamlit as st

from dashboard import ui

PYTHON_SNIPPET = """\
pip install costobs

import costobs
from openai import OpenAI

costobs.configure(ingest_url="{url}", api_key="{key}")
client = costobs.wrap(OpenAI(), team="payments", environment="prod")

with costobs.request_context(customer_id="cust-42"):
    client.chat.completions.create(model="gpt-4o", messages=[...], feature="summarize")

costobs.flush()  # before a short-lived script exits
"""


def render(ctx: ui.PageContext) -> None:
    st.title("Welcome to CostObs")
    st.write(
        f"**{ctx.org['name']}** has no events yet. Send your first one and every page fills in: "
        "spend, breakdowns by customer, feature or any tag, requests, forecasts."
    )
    dev_key = ctx.api.key if ctx.api.key == "costobs_dev_secret_key" else "<your ingest key>"
    st.subheader("1 · Instrument your app (Python)")
    st.code(PYTHON_SNIPPET.format(url=ctx.api.base, key=dev_key), language="python")
    st.subheader("2 · Or try it with demo data")
    st.write("30k synthetic events over 45 days, with simulated provider bills:")
    st.code(f"costobs demo-data --url {ctx.api.base} --api-key {dev_key}", language="bash")
    st.caption(
        "Prompts and responses never leave your app: events carry usage, cost and the "
        "metadata you attach — nothing else."
    )


if __name__ == "__main__":
    render(ui.context())
