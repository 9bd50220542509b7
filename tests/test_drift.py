"""Explained drift: billsyncd pulls costs per line item from fake admin APIs in the documented
shapes (OpenAI ``group_by=line_item``, Anthropic ``group_by[]=description``); Reconcile shows
drift per provider-day-model, names untracked models, and suggests the override that closes a
stable drift — which, applied, prices new events the way the provider bills."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.line_items import item_model
from billing.providers import Retry, anthropic_items, openai_items
from billing.sync import BillSync
from consumers.pricer import Pricer
from readapi.math import drift
from tests.fake_http import Reply, Request, fake_server, json_reply
from tests.helpers import Running, event, eventually

TODAY = date(2026, 11, 20)
FIRST = TODAY - timedelta(days=7)  # eight days: 13th .. 20th
GPT = {"input_tokens": 400_000, "output_tokens": 0}  # gpt-4o: $1 tracked a day
BILLED_GPT = ["1.05", "1.0501", "1.0499", "1.05", "1.05", "1.0502", "1.0498", "1.05"]


def _ts(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), UTC).timestamp())


def openai_costs(request: Request) -> Reply:
    assert request.query["group_by"] == ["line_item"]
    buckets = []
    for i in range(8):
        day = FIRST + timedelta(days=i)
        results = [
            {
                "amount": {"value": BILLED_GPT[i], "currency": "usd"},
                "line_item": "gpt-4o-2024-08-06, input",
            },
            {"amount": {"value": "0.25", "currency": "usd"}, "line_item": "web search tool calls"},
        ]
        buckets.append({"start_time": _ts(day), "end_time": _ts(day) + 86400, "results": results})
    return json_reply(200, {"data": buckets, "has_more": False, "next_page": None})


def anthropic_costs(request: Request) -> Reply:
    assert request.query["group_by[]"] == ["description"]
    bucket = {
        "starting_at": f"{TODAY.isoformat()}T00:00:00Z",
        "ending_at": f"{(TODAY + timedelta(days=1)).isoformat()}T00:00:00Z",
        "results": [
            {
                "amount": "250.5",
                "currency": "USD",
                "cost_type": "tokens",
                "model": "claude-opus-4-1-20250805",
                "token_type": "output_tokens",
                "description": "Claude Opus 4.1 Usage - Output Tokens",
                "context_window": "0-200k",
                "service_tier": "standard",
            }
        ],
    }
    return json_reply(200, {"data": [bucket], "has_more": False, "next_page": None})


def test_line_items_in_the_documented_shapes() -> None:
    days = openai_items(
        [
            {
                "start_time": _ts(TODAY),
                "results": [
                    {"amount": {"value": "1.5"}, "line_item": "gpt-4o-mini, cached input"},
                    {"amount": {"value": 2}, "line_item": None},
                ],
            }
        ]
    )
    assert days == {TODAY: {"gpt-4o-mini, cached input": Decimal("1.5"), "": Decimal(2)}}
    report = anthropic_items(
        [
            {
                "starting_at": "2026-11-20T00:00:00Z",
                "results": [
                    {
                        "amount": "12.5",
                        "model": "claude-sonnet-4-5",
                        "token_type": "uncached_input_tokens",
                    },
                    {"amount": "1", "cost_type": "web_search", "description": "Web search"},
                ],
            }
        ]
    )
    assert report == {
        TODAY: {
            "claude-sonnet-4-5, uncached_input_tokens": Decimal("0.125"),
            "Web search": Decimal("0.01"),
        }
    }
    assert item_model("gpt-4o-2024-08-06, input") == "gpt-4o-2024-08-06"
    assert item_model("web search tool calls") is None


def _days(ratios: list[str], tracked: str = "1") -> dict[Any, drift.Cell]:
    return {
        ("openai", TODAY - timedelta(days=i), "gpt-4o"): drift.Cell(
            1, Decimal(tracked), Decimal(tracked) * Decimal(r), 1
        )
        for i, r in enumerate(ratios)
    }


def test_only_a_stable_ratio_over_a_week_is_suggested() -> None:
    stable = drift.explain("acme", _days(["1.1"] * 7))
    (s,) = stable["suggestions"]
    assert s["override"]["multiplier"] == "1.1000" and s["ratio"] == "1.100000"
    assert s["days"] == 7 and s["override"]["from"] == (TODAY - timedelta(days=6)).isoformat()
    assert drift.explain("acme", _days(["1.1"] * 6))["suggestions"] == []  # too short
    assert drift.explain("acme", _days(["1.1"] * 6 + ["1.4"]))["suggestions"] == []  # unstable
    assert drift.explain("acme", _days(["1.003"] * 9))["suggestions"] == []  # no drift


async def test_drift_per_model_untracked_models_and_the_override_that_closes_it(
    running: Running,
) -> None:
    settings = running.stack.settings.model_validate(
        running.stack.settings.model_dump()
        | {"billing_org": running.org.id, "billing_lookback_days": 8}
    )
    with fake_server(openai_costs) as openai, fake_server(anthropic_costs) as anthropic:
        settings = settings.model_validate(
            settings.model_dump()
            | {
                "billing_openai_admin_key": "sk-admin-test",
                "billing_openai_base_url": openai.url,
                "billing_anthropic_admin_key": "sk-ant-admin-test",
                "billing_anthropic_base_url": anthropic.url,
            }
        )
        sync = BillSync(
            settings,
            running.stack.services.nc,
            Retry(attempts=1),
            today=lambda: TODAY,  # type: ignore[union-attr]
        )
        status = await sync.sync_once()
    assert all(s.ok for s in status.values()), status
    events = [
        event(i, timestamp=f"{(FIRST + timedelta(days=i)).isoformat()}T12:00:00Z", usage=GPT)
        for i in range(8)
    ]
    assert (await running.post(events)).json()["accepted"] == 8
    params = {"from": FIRST.isoformat(), "to": TODAY.isoformat()}

    async def drift() -> dict[str, Any]:
        r = await running.client.get(
            "/v1/reconcile/models", params=params, headers=running.org.headers
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def complete() -> bool:
        body = await drift()
        gpt = [r for r in body["rows"] if r["model"] == "gpt-4o" and r["billed_usd"]]
        return (
            len(gpt) == 8
            and all(r["tracked_usd"] == "1" for r in gpt)
            and bool(body["untracked_models"])
        )

    await eventually(complete)
    body = await drift()
    rows = {(r["provider"], r["date"], r["model"]): r for r in body["rows"]}
    first = rows[("openai", FIRST.isoformat(), "gpt-4o")]
    assert (first["billed_usd"], first["drift_usd"], first["drift_pct"]) == ("1.05", "0.05", "5.00")
    assert rows[("openai", FIRST.isoformat(), None)]["billed_usd"] == "0.25"  # not per model
    assert body["untracked_models"] == [
        {
            "provider": "anthropic",
            "model": "claude-opus-4-1",
            "billed_usd": "2.505",
            "display_billed": None,
        }  # null: the org shows USD
    ]
    (suggestion,) = body["suggestions"]
    spec = suggestion["override"]
    assert spec == {
        "kind": "discount",
        "provider": "openai",
        "model": "gpt-4o",
        "multiplier": "1.0500",
        "from": FIRST.isoformat(),
        "label": "reconcile: billed/tracked over 8 days",
    }
    words = shlex.split(suggestion["command"])
    assert words[:5] == ["costobs", "overrides", "add", "--org", running.org.id]
    assert words[5] == "--spec" and json.loads(words[6]) == spec

    # applied (what the CLI line does), the writer's pricer bills the model as the provider does
    running.org.db.add_price_override(running.org.id, spec)
    pricer = Pricer(overrides=running.org.db.price_overrides)
    later = event(20, timestamp=f"{TODAY.isoformat()}T18:00:00Z", usage=GPT)
    quote = pricer(running.org.id, later, datetime.fromisoformat(later["timestamp"]))
    assert quote.cost_usd == Decimal("1.05")


async def test_price_override_api_refuses_what_the_engine_refuses(running: Running) -> None:
    bad = {"spec": {"kind": "discount", "multiplier": 0.9}, "note": "float"}
    r = await running.client.post("/v1/price-overrides", json=bad, headers=running.org.headers)
    assert r.status_code == 422 and "multiplier" in r.text
    good = {"spec": {"kind": "discount", "multiplier": "0.9", "provider": "openai"}}
    r = await running.client.post("/v1/price-overrides", json=good, headers=running.org.headers)
    assert r.status_code == 201, r.text
    assert running.org.db.price_overrides(running.org.id) == [good["spec"]]
