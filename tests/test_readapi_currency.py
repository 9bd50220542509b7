"""Display currency through the read API, on events sent through the real pipeline: rates set
and imported (admin only, all or nothing), converted figures beside the unchanged USD ones,
day by day with each day's rate, the rate and its date shown, fallback days flagged."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.helpers import Running, event, eventually, new_org
from tests.readapi_seed import send

pytestmark = pytest.mark.timeout(120)

# gpt-4o, 1000 input + 100 output tokens: 0.0025 + 0.001 = 0.0035 USD per event
DAYS = {"2026-11-01": 2, "2026-11-02": 1, "2026-11-04": 3, "2026-11-05": 1}
RATES_CSV = "date,currency,rate\n2026-11-02,EUR,0.92\n2026-11-04,EUR,0.9\n2026-11-04,GBP,0.79\n"


def _events() -> list[dict[str, Any]]:
    return [
        event(
            0,
            timestamp=f"{day}T10:00:00.000Z",
            usage={"input_tokens": 1000, "output_tokens": 100},
            prompt_key="summ",
            prompt_version="v1",
        )
        for day, n in DAYS.items()
        for _ in range(n)
    ]


async def call(running: Running, method: str, path: str, **kw: Any) -> Any:
    r = await running.client.request(method, path, headers=running.org.headers, **kw)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
async def euro(running: Running) -> Running:
    await send(running, _events())
    await call(running, "PUT", "/v1/currency", json={"display_currency": "eur"})
    r = await running.client.post(
        "/v1/currency/rates",
        content=RATES_CSV,
        headers={**running.org.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200 and r.json() == {"imported": 3}, r.text
    return running


async def test_series_converts_each_day_with_its_rate(euro: Running) -> None:
    body = await call(euro, "GET", "/v1/series", params={"from": "2026-11-01", "to": "2026-11-05"})
    got = [(p["date"], p["cost_usd"], p["display"]) for p in body["points"]]
    eur = {"currency": "EUR"}
    assert got == [
        ("2026-11-01", "0.007",
         {**eur, "cost": None, "rate": None, "rate_date": None, "fallback": False}),
        ("2026-11-02", "0.0035",
         {**eur, "cost": "0.00322", "rate": "0.92", "rate_date": "2026-11-02", "fallback": False}),
        ("2026-11-03", "0",
         {**eur, "cost": "0", "rate": "0.92", "rate_date": "2026-11-02", "fallback": True}),
        ("2026-11-04", "0.0105",
         {**eur, "cost": "0.00945", "rate": "0.9", "rate_date": "2026-11-04", "fallback": False}),
        ("2026-11-05", "0.0035",
         {**eur, "cost": "0.00315", "rate": "0.9", "rate_date": "2026-11-04", "fallback": True}),
    ]  # fmt: skip
    # 2026-11-01 has spend and no rate: the range total cannot be converted, and says why
    assert body["display"]["cost"] is None
    assert body["display"]["rates"][0] == {
        "from": "2026-11-01", "to": "2026-11-01", "rate": None, "rate_date": None,
        "fallback": False,
    }  # fmt: skip


async def test_summary_converts_day_by_day_not_at_one_rate(euro: Running) -> None:
    body = await call(euro, "GET", "/v1/summary", params={"from": "2026-11-02", "to": "2026-11-05"})
    assert body["totals"]["cost_usd"] == "0.0175"  # USD stays the truth
    # 0.0035 × 0.92 + 0.0105 × 0.9 + 0.0035 × 0.9, not 0.0175 × 0.9 (= 0.01575)
    assert body["display"] == {
        "currency": "EUR",
        "minor_units": 2,
        "cost": "0.01582",
        "rates": [
            {"from": "2026-11-02", "to": "2026-11-03", "rate": "0.92",
             "rate_date": "2026-11-02", "fallback": True},
            {"from": "2026-11-04", "to": "2026-11-05", "rate": "0.9",
             "rate_date": "2026-11-04", "fallback": True},
        ],
    }  # fmt: skip
    # the previous period (2026-10-29..11-01) holds days before the first rate
    assert body["previous_period"]["display"]["cost"] is None
    assert body["month_over_month"]["current"]["display"]["cost"] is None  # from 11-01
    # the plain usage summary (UTC days of the rollup) converts the same way
    usage = await call(
        euro, "GET", "/v1/usage/summary", params={"from": "2026-11-02", "to": "2026-11-05"}
    )
    assert (usage["cost_usd"], usage["display"]) == ("0.0175", body["display"])
    usage = await call(
        euro, "GET", "/v1/usage/summary", params={"from": "2026-11-01", "to": "2026-11-02"}
    )
    assert usage["display"]["cost"] is None  # 11-01 has spend and no rate
    assert usage["display"]["rates"][0]["rate"] is None


async def test_breakdown_rows_convert_per_rate_period(euro: Running) -> None:
    params = {"from": "2026-11-02", "to": "2026-11-05", "by": "customer"}
    body = await call(euro, "GET", "/v1/breakdown", params=params)
    assert [(r["keys"], r["cost_usd"], r["display_cost"]) for r in body["rows"]] == [
        (["cust-0"], "0.0175", "0.01582")
    ]
    assert body["display"]["cost"] == "0.01582" and body["display"]["note"] is None
    with_gap = await call(euro, "GET", "/v1/breakdown", params={**params, "from": "2026-11-01"})
    assert with_gap["rows"][0]["display_cost"] is None  # part of it on a day without a rate
    assert with_gap["display"]["cost"] is None


async def test_requests_carry_the_rate_of_their_day(euro: Running) -> None:
    body = await call(
        euro, "GET", "/v1/requests", params={"from": "2026-11-05", "to": "2026-11-05"}
    )
    [item] = body["items"]
    assert item["cost_usd"] == "0.0035"
    assert item["display"] == {
        "currency": "EUR", "cost": "0.00315", "rate": "0.9", "rate_date": "2026-11-04",
        "fallback": True,
    }  # fmt: skip
    detail = await call(euro, "GET", f"/v1/requests/{item['request_id']}")
    assert detail["display"] == item["display"]


async def test_a_fixed_rate_and_the_currency_settings(euro: Running) -> None:
    info = await call(
        euro, "PUT", "/v1/currency/rates/eur", json={"rate": "0.95", "from": "2026-11-04"}
    )
    assert info["display_currency"] == "EUR" and info["minor_units"] == 2
    assert [(r["currency"], r["date"], r["rate"], r["source"]) for r in info["rates"]] == [
        ("EUR", "2026-11-02", "0.92", "import"),
        ("EUR", "2026-11-04", "0.95", "fixed"),
        ("GBP", "2026-11-04", "0.79", "import"),
    ]
    assert info["today"]["rate"] == "0.95" and info["today"]["fallback"] is True
    body = await call(euro, "GET", "/v1/summary", params={"from": "2026-11-04", "to": "2026-11-05"})
    assert body["display"]["cost"] == "0.0133"  # 0.014 × 0.95
    await call(euro, "PUT", "/v1/currency", json={"display_currency": "USD"})
    body = await call(euro, "GET", "/v1/summary", params={"from": "2026-11-04", "to": "2026-11-05"})
    assert body["display"] is None and body["totals"]["cost_usd"] == "0.014"


async def test_bad_input_is_refused_and_nothing_is_half_imported(running: Running) -> None:
    headers = running.org.headers
    bad = "date,currency,rate\n2026-11-02,EUR,0.92\n2026-11-03,EUR,0\n2026-11-04,XYZ,1\n"
    r = await running.client.post(
        "/v1/currency/rates", content=bad, headers={**headers, "Content-Type": "text/csv"}
    )
    assert r.status_code == 422
    assert r.json()["detail"]["problems"] == [
        "line 3: rate: '0' is not a positive rate",
        "line 4: currency: 'XYZ' is not an ISO 4217 currency code (e.g. EUR)",
    ]
    r = await running.client.post(
        "/v1/currency/rates",
        json={"rates": [{"date": "2026-11-02", "currency": "EUR", "rate": "0.92"},
                        {"date": "2026-02-30", "currency": "EUR", "rate": "0.9"}]},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 422
    assert r.json()["detail"]["problems"] == [
        "rates[1]: date: '2026-02-30' is not a date YYYY-MM-DD"
    ]
    info = await call(running, "GET", "/v1/currency")
    assert info["rates"] == [] and info["display_currency"] == "USD"
    r = await running.client.put("/v1/currency", json={"display_currency": "EURO"}, headers=headers)
    assert r.status_code == 422 and "'display_currency'" in r.json()["detail"]
    r = await running.client.put("/v1/currency/rates/EUR", json={"rate": "-1"}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"] == "rate: '-1' is not a positive rate"
    r = await running.client.post(
        "/v1/currency/rates", content="x", headers={**headers, "Content-Type": "text/plain"}
    )
    assert r.status_code == 415


async def test_changes_need_an_admin_key(running: Running) -> None:
    db = running.stack.services.db  # type: ignore[union-attr]
    reader = new_org(db, ("read",))
    r = await running.client.put(
        "/v1/currency", json={"display_currency": "EUR"}, headers=reader.headers
    )
    assert r.status_code == 403
    r = await running.client.post(
        "/v1/currency/rates",
        content=RATES_CSV,
        headers={**reader.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 403
    r = await running.client.get("/v1/currency", headers=reader.headers)
    assert r.status_code == 200 and r.json()["display_currency"] == "USD"


async def test_focus_export_adds_the_display_columns(euro: Running) -> None:
    import csv
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    params = {"from": "2026-11-01", "to": "2026-11-05"}
    r = await euro.client.get(
        "/v1/export/focus", params={**params, "format": "csv"}, headers=euro.org.headers
    )
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    got = [
        (
            row["ChargePeriodStart"][:10], row["x_UsageType"], row["BillingCurrency"],
            row["BilledCost"], row["x_DisplayCurrency"], row["x_DisplayCost"],
            row["x_ExchangeRate"], row["x_ExchangeRateDate"], row["x_ExchangeRateFallback"],
        )
        for row in rows
    ]  # fmt: skip
    assert got == [
        ("2026-11-01", "input", "USD", "0.005", "EUR", "", "", "", ""),
        ("2026-11-01", "output", "USD", "0.002", "EUR", "", "", "", ""),
        ("2026-11-02", "input", "USD", "0.0025", "EUR", "0.0023", "0.92", "2026-11-02", "false"),
        ("2026-11-02", "output", "USD", "0.001", "EUR", "0.00092", "0.92", "2026-11-02", "false"),
        ("2026-11-04", "input", "USD", "0.0075", "EUR", "0.00675", "0.9", "2026-11-04", "false"),
        ("2026-11-04", "output", "USD", "0.003", "EUR", "0.0027", "0.9", "2026-11-04", "false"),
        ("2026-11-05", "input", "USD", "0.0025", "EUR", "0.00225", "0.9", "2026-11-04", "true"),
        ("2026-11-05", "output", "USD", "0.001", "EUR", "0.0009", "0.9", "2026-11-04", "true"),
    ]
    r = await euro.client.get(
        "/v1/export/focus", params={**params, "format": "parquet"}, headers=euro.org.headers
    )
    assert r.status_code == 200, r.text
    table = pq.read_table(pa.BufferReader(r.content))
    assert table.schema.field("x_DisplayCost").type == pa.decimal256(76, 30)
    assert table.schema.field("x_ExchangeRateFallback").type == pa.bool_()
    costs = table.column("x_DisplayCost").to_pylist()
    assert costs[:2] == [None, None]
    assert sum(c for c in costs if c is not None) == Decimal("0.01582")  # = the summary's


async def test_forecast_converts_the_past_by_day_and_the_future_at_todays_rate(
    euro: Running,
) -> None:
    r = await euro.client.post(
        "/v1/currency/rates",
        content="date,currency,rate\n2026-11-01,EUR,0.8\n",
        headers={**euro.org.headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    body = await call(
        euro, "GET", "/v1/forecast", params={"as_of": "2026-11-05", "history_days": 7}
    )
    shown = body["display"]
    assert body["month_to_date_usd"] == "0.0245"
    # 0.007 × 0.8 + 0.0035 × 0.92 + 0.0105 × 0.9 + 0.0035 × 0.9
    assert shown["month_to_date"] == "0.02142"
    assert (shown["rate"], shown["rate_date"], shown["fallback"]) == ("0.9", "2026-11-04", True)
    rest = Decimal(body["month_end_usd"]) - Decimal("0.0245")
    assert Decimal(shown["month_end"]) == Decimal("0.02142") + rest * Decimal("0.9")
    assert Decimal(shown["next_30_days"]) == Decimal(body["next_30_days_usd"]) * Decimal("0.9")
    assert [(p["date"], p["cost_usd"]) for p in body["history"]] == [
        ("2026-11-01", "0.007"), ("2026-11-02", "0.0035"), ("2026-11-03", "0"),
        ("2026-11-04", "0.0105"),
    ]  # fmt: skip
    assert [(h["cost"], h["rate"], h["fallback"]) for h in shown["history"]] == [
        ("0.0056", "0.8", False), ("0.00322", "0.92", False), ("0", "0.92", True),
        ("0.00945", "0.9", False),
    ]  # fmt: skip


async def test_reconcile_rows_convert_at_their_days_rate(euro: Running) -> None:
    item = {"provider": "openai", "source": "import", "line_item": "gpt-4o, input"}
    bills = [
        {**item, "date": "2026-11-02", "billed_usd": "0.004"},
        {**item, "date": "2026-11-05", "billed_usd": "0.003"},
        # a model no event tracks, on a day after the range of /v1/reconcile below
        {**item, "date": "2026-11-06", "billed_usd": "0.01", "line_item": "o3, input"},
    ]
    r = await euro.client.post(
        "/v1/billing/import", json={"bills": bills}, headers=euro.org.headers
    )
    assert r.status_code == 202, r.text
    params = {"from": "2026-11-02", "to": "2026-11-05"}

    async def billed() -> dict[str, Any]:
        body: dict[str, Any] = await call(euro, "GET", "/v1/reconcile", params=params)
        return body

    await eventually(lambda: _has_bills(billed), within=20)
    body = await billed()
    got = [(r["date"], r["tracked_usd"], r["billed_usd"], r["display"]) for r in body["rows"]]
    eur = {"currency": "EUR"}
    assert got == [
        ("2026-11-02", "0.0035", "0.004", {**eur, "rate": "0.92", "rate_date": "2026-11-02",
         "fallback": False, "tracked": "0.00322", "billed": "0.00368", "drift": "0.00046",
         "untracked": "0.00046"}),
        ("2026-11-04", "0.0105", None, {**eur, "rate": "0.9", "rate_date": "2026-11-04",
         "fallback": False, "tracked": "0.00945", "billed": None, "drift": None,
         "untracked": "0"}),
        ("2026-11-05", "0.0035", "0.003", {**eur, "rate": "0.9", "rate_date": "2026-11-04",
         "fallback": True, "tracked": "0.00315", "billed": "0.0027", "drift": "-0.00045",
         "untracked": "0"}),
    ]  # fmt: skip
    assert body["display"] == {
        "currency": "EUR", "minor_units": 2, "tracked": "0.01582", "billed": "0.00638",
        "drift": "0.00001", "untracked": "0.00046",
    }  # fmt: skip

    # drift per model: each provider-day-model row at its UTC day's rate
    models_params = {"from": "2026-11-02", "to": "2026-11-06"}

    async def untracked() -> bool:
        body = await call(euro, "GET", "/v1/reconcile/models", params=models_params)
        return bool(body["untracked_models"])

    await eventually(untracked, within=20)
    models = await call(euro, "GET", "/v1/reconcile/models", params=models_params)
    got = [(r["date"], r["model"], r["billed_usd"], r["display"]) for r in models["rows"]]
    assert got == [
        ("2026-11-02", "gpt-4o", "0.004", {**eur, "rate": "0.92", "rate_date": "2026-11-02",
         "fallback": False, "tracked": "0.00322", "billed": "0.00368", "drift": "0.00046",
         "untracked": None}),
        ("2026-11-04", "gpt-4o", None, {**eur, "rate": "0.9", "rate_date": "2026-11-04",
         "fallback": False, "tracked": "0.00945", "billed": None, "drift": None,
         "untracked": None}),
        ("2026-11-05", "gpt-4o", "0.003", {**eur, "rate": "0.9", "rate_date": "2026-11-04",
         "fallback": True, "tracked": "0.00315", "billed": "0.0027", "drift": "-0.00045",
         "untracked": None}),
        ("2026-11-06", "o3", "0.01", {**eur, "rate": "0.9", "rate_date": "2026-11-04",
         "fallback": True, "tracked": "0", "billed": "0.009", "drift": "0.009",
         "untracked": None}),
    ]  # fmt: skip
    assert models["untracked_models"] == [
        {"provider": "openai", "model": "o3", "billed_usd": "0.01", "display_billed": "0.009"}
    ]
    assert models["display"] == {
        "currency": "EUR", "minor_units": 2, "tracked": "0.01582", "billed": "0.01538",
        "drift": "0.00901",
        "rates": [
            {"from": "2026-11-02", "to": "2026-11-03", "rate": "0.92",
             "rate_date": "2026-11-02", "fallback": True},
            {"from": "2026-11-04", "to": "2026-11-06", "rate": "0.9",
             "rate_date": "2026-11-04", "fallback": True},
        ],
    }  # fmt: skip


async def _has_bills(billed: Any) -> bool:
    return bool((await billed())["billed_data"])


async def test_tags_and_prompts_convert_day_by_day(euro: Running) -> None:
    params = {"from": "2026-11-02", "to": "2026-11-05"}
    tags = await call(euro, "GET", "/v1/tags", params=params)
    assert [(t["key"], t["cost_usd"], t["display_cost"]) for t in tags["tags"]] == [
        ("pr", "0.0175", "0.01582")
    ]
    assert [r["rate"] for r in tags["display"]["rates"]] == ["0.92", "0.9"]
    prompts = await call(euro, "GET", "/v1/prompts", params=params)
    assert [(p["prompt_key"], p["display_cost"]) for p in prompts["prompts"]] == [
        ("summ", "0.01582")
    ]
    compared = await call(
        euro, "GET", "/v1/prompts/compare", params={**params, "prompt_key": "summ"}
    )
    got = [
        (r["prompt_version"], r["model"], r["display_cost"], r["display_cost_per_request"])
        for r in compared["versions"] + compared["rows"]
    ]
    # 0.01582 / 5 requests
    assert got == [("v1", None, "0.01582", "0.003164"), ("v1", "gpt-4o", "0.01582", "0.003164")]
    # a day without any rate in the range: the rows say they cannot be converted
    early = await call(euro, "GET", "/v1/tags", params={**params, "from": "2026-11-01"})
    assert early["tags"][0]["display_cost"] is None
