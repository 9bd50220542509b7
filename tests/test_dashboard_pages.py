"""Every dashboard page with ``streamlit.testing.v1.AppTest`` against a running read API with
data sent through the real pipeline; the numbers on screen are checked against figures
computed independently from the events sent."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import ui
from dashboard.api import Api, ApiError
from tests.helpers import Running, event, eventually
from tests.readapi_seed import demo_events, group_cost, in_range, send, total_cost

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    st.cache_data.clear()  # shared by every AppTest in this process
    yield
    st.cache_data.clear()


async def run(at: AppTest) -> AppTest:
    # the read API is served by this test's event loop: run the script in a thread
    main = sys.modules["__main__"]
    try:
        await asyncio.to_thread(at.run, timeout=60)
    finally:
        # Streamlit leaves the script as __main__; spawned processes (the writer's transform
        # pool) would re-run it as their main module
        sys.modules["__main__"] = main
    assert not at.exception, [e.value for e in at.exception]
    return at


async def open_page(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    await run(at)
    if page is not None:
        at.query_params.update(query)
        at.switch_page(page)
        await run(at)
    return at


def today() -> date:
    return datetime.now(UTC).date()


def last_30(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    t = today()
    return in_range(events, (t - timedelta(days=29)).isoformat(), t.isoformat())


def metric(at: AppTest, label: str) -> str:
    return str(next(m.value for m in at.metric if m.label == label))


@pytest.fixture
async def seeded(dashboard_env: Running) -> list[dict[str, Any]]:
    now = datetime.now(UTC) - timedelta(minutes=5)
    events = demo_events(600, 20, seed=3, now=now)
    events.append(event(99, model="mystery-model-x", cost_usd="0", timestamp=now.isoformat()))
    await send(dashboard_env, events)
    return events


async def test_first_run_screen_for_an_org_without_events(dashboard_env: Running) -> None:
    at = await open_page()
    assert at.title[0].value == "Welcome to CostObs"
    code = "\n".join(c.value for c in at.code)
    assert "costobs.configure(ingest_url=" in code and dashboard_env.url in code
    assert "costobs demo-data" in code
    assert not at.get("vega_lite_chart")  # no empty charts
    overview = await open_page("pages_overview.py")  # Overview shows the same guidance
    assert overview.title[0].value == "Welcome to CostObs"


async def test_overview_shows_exact_figures_charts_and_unpriced_warning(
    seeded: list[dict[str, Any]],
) -> None:
    at = await open_page()  # the main page once the org has events
    assert at.title[0].value == "Overview"
    shown = last_30(seeded)
    assert metric(at, "Spend") == ui.money(total_cost(shown))
    # the one money rule: every digit, as on the Alerts page (the seed's costs have more than
    # cents, so a rounded figure would differ)
    assert total_cost(shown) != round(total_cost(shown), 2)
    assert Decimal(metric(at, "Spend").lstrip("$").replace(",", "")) == total_cost(shown)
    assert metric(at, "Requests") == f"{len(shown):,}"
    tokens = sum(
        e["usage"]["input_tokens"]
        + e["usage"].get("cached_input_tokens", 0)
        + e["usage"]["output_tokens"]
        for e in shown
    )
    assert metric(at, "Tokens") == ui.count(tokens)
    warning = at.warning[0].value
    assert "mystery-model-x" in warning and "Unpriced" in warning
    assert len(at.get("vega_lite_chart")) == 2  # spend over time, cost by provider
    failed = [e for e in shown if e.get("status", "ok") != "ok"]
    assert metric(at, "Spend on failed calls") == ui.money(total_cost(failed))
    assert metric(at, "Failed calls") == f"{len(failed):,}"
    top = at.dataframe[0].value  # one model across clouds and gateways
    by_model = group_cost(shown, lambda e: e.get("canonical_model", e["model"]))
    first = max(by_model, key=lambda m: by_model[m][1])
    assert top["Model"].iloc[0] == first
    assert top["Cost"].iloc[0] == ui.money(by_model[first][1])


async def test_range_picker_changes_the_figures(seeded: list[dict[str, Any]]) -> None:
    at = await open_page()
    at.selectbox(key="range_preset").select("Last 7 days")
    await run(at)
    t = today()
    week = in_range(seeded, (t - timedelta(days=6)).isoformat(), t.isoformat())
    assert metric(at, "Requests") == f"{len(week):,}"
    assert metric(at, "Spend") == ui.money(total_cost(week))


async def test_breakdown_deep_link_to_a_tag_and_csv(seeded: list[dict[str, Any]]) -> None:
    at = await open_page("pages_breakdown.py", tag="pr")
    assert at.selectbox(key="by").value == "tag:pr"
    shown = last_30(seeded)
    expected = group_cost(shown, lambda e: e["tags"].get("pr", ""))
    table = at.dataframe[0].value
    got = {
        ("" if k == "(none)" else k): (n, c)
        for k, n, c in zip(table["tag · pr"], table["Requests"], table["Cost (USD)"], strict=True)
    }
    assert {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in expected.items()}
    for k, (_, cost) in expected.items():
        assert got[k][1] == cost  # exact: the table holds decimals, not floats
    assert metric(at, "Spend in range") == ui.money(total_cost(shown))
    assert at.get("vega_lite_chart")
    assert at.get("download_button")[0].label == "Download CSV"
    # a dimension and a second level
    at.selectbox(key="by").select("feature")
    await run(at)
    at.selectbox(key="then").select("model")
    await run(at)
    table = at.dataframe[0].value
    pairs = group_cost(shown, lambda e: (e["feature"], e["model"]))
    assert len(table) == len(pairs)
    assert int(table["Requests"].sum()) == len(shown)


async def test_breakdown_by_status_and_across_clouds(seeded: list[dict[str, Any]]) -> None:
    at = await open_page("pages_breakdown.py", by="provider", status="failed")
    assert at.selectbox(key="status").value == "failed"
    failed = [e for e in last_30(seeded) if e.get("status", "ok") != "ok"]
    table = at.dataframe[0].value
    got = dict(zip(table["Provider"], table["Cost (USD)"], strict=True))
    assert got == {k: v[1] for k, v in group_cost(failed, lambda e: e["provider"]).items()}
    assert metric(at, "Spend (failed)") == ui.money(total_cost(failed))
    at.selectbox(key="by").select("canonical_model")
    await run(at)
    assert at.selectbox(key="then").disabled and at.selectbox(key="status").disabled
    table = at.dataframe[0].value
    shown = last_30(seeded)
    expected = group_cost(shown, lambda e: e.get("canonical_model", e["model"]))
    got = dict(zip(table["Model across clouds"], table["Cost (USD)"], strict=True))
    assert got == {("(none)" if k == "" else k): v[1] for k, v in expected.items()}


async def test_requests_filters_pages_and_details(seeded: list[dict[str, Any]]) -> None:
    at = await open_page("pages_requests.py")
    shown = sorted(last_30(seeded), key=lambda e: (e["timestamp"][:23], e["request_id"]))[::-1]
    assert list(at.dataframe[0].value["Request id"]) == [e["request_id"] for e in shown[:50]]
    at.button(key="older").click()
    await run(at)
    assert list(at.dataframe[0].value["Request id"]) == [e["request_id"] for e in shown[50:100]]
    at.text_input(key="f_provider").input("anthropic")
    await run(at)
    anthropic = [e for e in shown if e["provider"] == "anthropic"]
    ids = list(at.dataframe[0].value["Request id"])
    assert ids == [e["request_id"] for e in anthropic[:50]]
    at.selectbox(key="detail_id").select(ids[0])
    await run(at)
    assert metric(at, "Cost") == ui.money(anthropic[0]["cost_usd"])


async def test_prompts_compare_versions(seeded: list[dict[str, Any]]) -> None:
    at = await open_page("pages_prompts.py")
    key = at.selectbox(key="prompt_key").value
    mine = [e for e in last_30(seeded) if e.get("prompt_key") == key]
    table = at.dataframe[0].value
    expected = group_cost(mine, lambda e: e["prompt_version"])
    assert dict(zip(table["Version"], table["Requests"], strict=True)) == {
        v: n for v, (n, _) in expected.items()
    }
    assert list(table["Cost"]) == [ui.money(expected[v][1]) for v in table["Version"]]
    assert at.get("vega_lite_chart")


async def test_forecast_budget_run_out(seeded: list[dict[str, Any]]) -> None:
    at = await open_page("pages_forecast.py")
    t = today()
    mtd = in_range(seeded, t.replace(day=1).isoformat(), t.isoformat())
    assert metric(at, "Month to date") == ui.money(total_cost(mtd))
    at.text_input(key="budget").input("0.01")
    await run(at)
    body = Api(at_env_url(), at_env_key()).get(
        "/v1/forecast", as_of=t.isoformat(), history_days=30, monthly_budget_usd="0.01"
    )
    assert body["budget_run_out_date"]
    assert body["budget_run_out_date"] in at.error[0].value
    assert "Fit quality" in [s.value for s in at.subheader]
    assert len(at.dataframe[0].value) == len(body["models"]) == 2
    assert at.get("vega_lite_chart")


def at_env_url() -> str:
    return os.environ["COSTOBS_API_URL"]


def at_env_key() -> str:
    return os.environ["COSTOBS_DASHBOARD_API_KEY"]


async def test_reconcile_without_and_with_bills(dashboard_env: Running) -> None:
    day = (today() - timedelta(days=2)).isoformat()
    await send(dashboard_env, [event(i, timestamp=f"{day}T10:00:00.000Z") for i in range(3)])
    at = await open_page("pages_reconcile.py")
    assert "No billed data is present" in at.info[0].value
    r = await dashboard_env.client.post(
        "/v1/billing/import",
        json={
            "bills": [{"provider": "openai", "date": day, "billed_usd": "5.00", "source": "import"}]
        },
        headers=dashboard_env.org.headers,
    )
    assert r.status_code == 202

    async def billed() -> bool:
        r = await dashboard_env.client.get(
            "/v1/reconcile", params={"from": day, "to": day}, headers=dashboard_env.org.headers
        )
        return bool(r.json()["billed_data"])

    await eventually(billed)
    st.cache_data.clear()
    at = await open_page("pages_reconcile.py")
    assert metric(at, "Billed") == "$5.00"
    body = await dashboard_env.client.get(
        "/v1/reconcile",
        params={"from": (today() - timedelta(days=29)).isoformat(), "to": today().isoformat()},
        headers=dashboard_env.org.headers,
    )
    totals = body.json()["totals"]
    assert metric(at, "Tracked") == ui.money(totals["tracked_usd"])
    assert metric(at, "Untracked") == ui.money(totals["untracked_usd"])
    assert at.get("vega_lite_chart")


async def test_alerts_page_until_the_alerting_api_exists(
    dashboard_env: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_get = Api.get

    def without_alerts(self: Api, path: str, **params: Any) -> Any:
        if path.startswith("/v1/alerts/"):
            raise ApiError(404, "Not Found")
        return real_get(self, path, **params)

    monkeypatch.setattr(Api, "get", without_alerts)
    at = await open_page("pages_alerts.py")
    assert "Alert rules are not available yet" in at.info[0].value


async def test_alerts_page_lists_rules_when_the_api_answers(dashboard_env: Running) -> None:
    at = await open_page("pages_alerts.py")
    assert at.title[0].value == "Alerts"
    texts = [m.value for m in at.markdown]
    assert "No alert rules yet." in texts


async def test_settings_keys_price_table_and_timezone(dashboard_env: Running) -> None:
    at = await open_page("pages_settings.py")
    org = (await dashboard_env.client.get("/v1/org", headers=dashboard_env.org.headers)).json()
    assert metric(at, "Price table") == org["price_table_version"]
    assert metric(at, "Time zone") == "UTC"
    listed = (await dashboard_env.client.get("/v1/keys", headers=dashboard_env.org.headers)).json()
    assert list(at.dataframe[0].value["Key"]) == [k["prefix"] + "…" for k in listed["keys"]]
    at.text_input[0].input("ci key")
    next(b for b in at.button if b.label == "Create key").click()
    await run(at)  # creates the key, reruns, shows the secret once
    secret = at.code[0].value
    assert secret.startswith("costobs_")
    listed = (await dashboard_env.client.get("/v1/keys", headers=dashboard_env.org.headers)).json()
    assert any(k["name"] == "ci key" and secret.startswith(k["prefix"]) for k in listed["keys"])
    await run(at)
    assert not at.code  # shown once
    at.selectbox(key="tz").select("Europe/Berlin")
    await run(at)
    at.button(key="tz_save").click()
    await run(at)
    org = (await dashboard_env.client.get("/v1/org", headers=dashboard_env.org.headers)).json()
    assert org["timezone"] == "Europe/Berlin"


async def test_server_mode_requires_the_password(
    seeded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSTOBS_MODE", "server")
    monkeypatch.setenv("COSTOBS_DASHBOARD_PASSWORD", "correct horse")
    at = await open_page()
    assert not at.metric and not at.get("vega_lite_chart")  # nothing before login
    at.text_input[0].input("wrong")
    at.button[0].click()
    await run(at)
    assert "Wrong password." in [e.value for e in at.error]
    assert not at.metric
    at.text_input[0].input("correct horse")
    at.button[0].click()
    await run(at)
    await run(at)
    assert at.title[0].value == "Overview"
    assert metric(at, "Requests") == f"{len(last_30(seeded)):,}"


async def test_an_ingest_only_credential_cannot_read(
    dashboard_env: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = dashboard_env.stack.services.db  # type: ignore[union-attr]
    key = db.create_key(dashboard_env.org.id, "ingest", ("ingest",)).secret
    monkeypatch.setenv("COSTOBS_DASHBOARD_API_KEY", key)
    at = await open_page()
    assert "cannot read" in at.error[0].value and "403" in at.error[0].value


async def test_reconcile_explains_drift_per_model_and_applies_the_fix(
    dashboard_env: Running,
) -> None:
    usage = {"input_tokens": 1000, "output_tokens": 100}  # gpt-4o: $0.0035
    days = [(today() - timedelta(days=d)).isoformat() for d in range(1, 8)]
    await send(
        dashboard_env,
        [event(i, timestamp=f"{d}T10:00:00.000Z", usage=usage) for i, d in enumerate(days)],
    )
    bills = [
        {"provider": "openai", "date": d, "billed_usd": "0.00385", "line_item": "gpt-4o, input"}
        for d in days
    ] + [
        {
            "provider": "anthropic",
            "date": days[0],
            "billed_usd": "2.5",
            "line_item": "claude-opus-4-1-20250805, output_tokens",
        }
    ]
    r = await dashboard_env.client.post(
        "/v1/billing/import", json={"bills": bills}, headers=dashboard_env.org.headers
    )
    assert r.status_code == 202

    async def itemised() -> bool:
        r = await dashboard_env.client.get(
            "/v1/reconcile/models", headers=dashboard_env.org.headers
        )
        return bool(r.json()["suggestions"]) and bool(r.json()["untracked_models"])

    await eventually(itemised)
    st.cache_data.clear()
    at = await open_page("pages_reconcile.py")
    assert "claude-opus-4-1" in at.warning[0].value
    assert "billed is 1.100000× tracked on each of 7 days" in at.info[0].value
    assert '"multiplier": "1.1000"' in at.code[0].value
    at.button(key="apply_override_0").click()
    await run(at)
    assert "Applied" in at.success[0].value
    (spec,) = dashboard_env.org.db.price_overrides(dashboard_env.org.id)
    assert (spec["kind"], spec["provider"], spec["model"], spec["multiplier"]) == (
        "discount",
        "openai",
        "gpt-4o",
        "1.1000",
    )
