"""The dashboard in the org's display currency (AppTest against a running read API): converted
figures beside the USD ones, rounded to the currency's minor units, with the rate and its date;
the Settings page sets the currency and a fixed rate."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import Running, event, eventually
from tests.readapi_seed import send
from tests.test_dashboard_pages import fresh_cache, metric, open_page, run

__all__ = ["fresh_cache"]  # the autouse fixture, imported
pytestmark = pytest.mark.timeout(180)


async def call(running: Running, method: str, path: str, body: Any) -> Any:
    r = await running.client.request(method, path, json=body, headers=running.org.headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
async def in_euros(dashboard_env: Running) -> Running:
    """Three $10 calls today (gpt-4o, 4M input tokens at $2.50/M), shown in EUR at 0.9234."""
    now = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    usage = {"input_tokens": 4_000_000, "output_tokens": 0}
    await send(dashboard_env, [event(i, timestamp=now, usage=usage) for i in range(3)])
    await call(dashboard_env, "PUT", "/v1/currency", {"display_currency": "EUR"})
    await call(dashboard_env, "PUT", "/v1/currency/rates/EUR", {"rate": "0.9234"})
    return dashboard_env


def captions(at: Any) -> str:
    return "\n".join(c.value for c in at.caption)


async def test_overview_breakdown_and_requests_show_euros_beside_dollars(
    in_euros: Running,
) -> None:
    at = await open_page()
    assert metric(at, "Spend") == "$30.00"  # USD stays
    # 30 × 0.9234 = 27.702 → 27.70 EUR; the rate and its date beside it
    assert "Spend in EUR: **27.70 EUR** · converted day by day · 0.9234 EUR/USD of 2000-01-01 " \
        "(latest earlier rate for days without one)" in captions(at)  # fmt: skip
    top = at.dataframe[0].value
    assert list(top["Cost (EUR)"]) == ["27.70 EUR"]

    at = await open_page("pages_breakdown.py", by="feature")
    table = at.dataframe[0].value
    assert list(table["Cost (EUR)"]) == ["27.70 EUR"]
    assert "Spend in range in EUR: **27.70 EUR**" in captions(at)
    from dashboard.pages_breakdown import to_csv

    body = await in_euros.client.get(
        "/v1/breakdown", params={"by": "feature"}, headers=in_euros.org.headers
    )
    rows = list(csv.DictReader(io.StringIO(to_csv(["feature"], body.json()["rows"],
                                                  body.json()["display"]))))  # fmt: skip
    assert (rows[0]["cost_usd"], rows[0]["cost_eur"]) == ("30", "27.702")  # exact in the file
    assert rows[0]["rates"] == "0.9234 EUR/USD of 2000-01-01 (latest earlier rate for days " \
        "without one)"  # fmt: skip

    at = await open_page("pages_requests.py")
    table = at.dataframe[0].value
    assert list(table["Cost (EUR)"]) == ["9.23 EUR"] * 3  # 9.234 → 9.23
    assert set(table["Rate (date)"]) == {"0.9234 (2000-01-01, earlier)"}


async def test_settings_sets_the_currency_and_a_fixed_rate(dashboard_env: Running) -> None:
    at = await open_page("pages_settings.py")
    assert "Figures are shown in USD, the stored currency." in captions(at)
    at.selectbox(key="display_currency").select("JPY")
    await run(at)
    at.button(key="currency_save").click()
    await run(at)
    assert "No JPY rate yet" in at.warning[0].value
    at.text_input[0].input("151.5")
    next(b for b in at.button if b.label == "Set rate").click()
    await run(at)
    info = (
        await dashboard_env.client.get("/v1/currency", headers=dashboard_env.org.headers)
    ).json()
    assert info["display_currency"] == "JPY" and info["minor_units"] == 0
    assert [(r["currency"], r["date"], r["rate"]) for r in info["rates"]] == [
        ("JPY", "2000-01-01", "151.5")
    ]
    assert list(at.dataframe[0].value["JPY per USD"]) == ["151.5"]
    # a bad rate is refused with the API's reason, nothing stored
    at.text_input[0].input("-3")
    next(b for b in at.button if b.label == "Set rate").click()
    await run(at)
    assert "rate: '-3' is not a positive rate" in at.error[0].value


async def test_forecast_shows_the_projection_in_euros(in_euros: Running) -> None:
    earlier = datetime.now(UTC) - timedelta(days=2)
    usage = {"input_tokens": 4_000_000, "output_tokens": 0}
    await send(in_euros, [event(9, timestamp=earlier.isoformat(), usage=usage)])
    at = await open_page("pages_forecast.py")
    today = datetime.now(UTC).date().isoformat()
    body = (
        await in_euros.client.get(
            "/v1/forecast",
            params={"as_of": today, "history_days": 30},
            headers=in_euros.org.headers,
        )
    ).json()
    shown = body["display"]
    from dashboard import ui

    text = captions(at)
    assert f"In EUR: month to date **{ui.in_currency(shown['month_to_date'], 'EUR')}**" in text
    assert f"month end **{ui.in_currency(shown['month_end'], 'EUR')}**" in text
    assert "today's rate: 0.9234 EUR/USD of 2000-01-01" in text


async def test_reconcile_shows_the_totals_in_euros(in_euros: Running) -> None:
    today = datetime.now(UTC).date().isoformat()
    bill = {"provider": "openai", "date": today, "billed_usd": "31", "source": "import",
            "line_item": "gpt-4o, input"}  # fmt: skip
    r = await in_euros.client.post(
        "/v1/billing/import", json={"bills": [bill]}, headers=in_euros.org.headers
    )
    assert r.status_code == 202, r.text

    async def billed() -> bool:
        r = await in_euros.client.get(
            "/v1/reconcile", params={"from": today, "to": today}, headers=in_euros.org.headers
        )
        return bool(r.json()["billed_data"])

    await eventually(billed, within=40)  # the bill travels through JetStream to the writer
    at = await open_page("pages_reconcile.py")
    # 30 × 0.9234 = 27.702; 31 × 0.9234 = 28.6254; drift 1 × 0.9234
    assert (
        "In EUR: tracked **27.70 EUR** · billed **28.63 EUR** · drift **0.92 EUR** · "
        "untracked **0.92 EUR**" in captions(at)
    )
    # the per-model table (itemised bill) too, with the day's rate
    [per_model] = [d.value for d in at.dataframe if "Model" in d.value.columns]
    assert per_model[["Tracked (EUR)", "Billed (EUR)", "Drift (EUR)", "Rate (date)"]].to_dict(
        "records"
    ) == [{"Tracked (EUR)": "27.70 EUR", "Billed (EUR)": "28.63 EUR", "Drift (EUR)": "0.92 EUR",
           "Rate (date)": "0.9234 (2000-01-01, earlier)"}]  # fmt: skip
    assert "EUR figures: each UTC day at its own rate · 0.9234 EUR/USD of 2000-01-01" in captions(
        at
    )


async def test_prompts_show_the_cost_per_request_in_euros(dashboard_env: Running) -> None:
    now = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    usage = {"input_tokens": 1000, "output_tokens": 100}  # $0.0035
    made = [
        event(i, timestamp=now, usage=usage, prompt_key="summ", prompt_version="v1")
        for i in range(2)
    ]
    await send(dashboard_env, made)
    await call(dashboard_env, "PUT", "/v1/currency", {"display_currency": "EUR"})
    await call(dashboard_env, "PUT", "/v1/currency/rates/EUR", {"rate": "0.92"})
    at = await open_page("pages_prompts.py")
    # 0.0035 × 0.92 = 0.00322 per request: below a cent, four significant digits
    assert list(at.dataframe[0].value["Cost / request (EUR)"]) == ["0.003220 EUR"]
    assert list(at.dataframe[1].value["Cost / request (EUR)"]) == ["0.003220 EUR"]
