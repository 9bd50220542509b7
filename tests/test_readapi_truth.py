"""Issue 16 through the real pipeline (ingest → JetStream → writer → chDB → read API): spend on
failed calls and its share, Breakdown filtered by status, one model across clouds and gateways."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.helpers import Running, event
from tests.readapi_seed import send

pytestmark = pytest.mark.timeout(120)

DAY = {"from": "2026-11-20", "to": "2026-11-20"}
SONNET_USAGE = {"input_tokens": 100_000}  # $0.30 at $3 per 1M


def _events() -> list[dict[str, Any]]:
    sonnet = [
        ("anthropic", "claude-sonnet-4-5-20250929", "ok"),
        ("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "ok"),
        (
            "openai_compatible",
            "anthropic/claude-sonnet-4-5",
            "timeout",
        ),  # an old SDK's gateway call
        ("vertex", "claude-sonnet-4-5@20250929", "cancelled"),
    ]
    out = [
        event(
            i,
            provider=p,
            model=m,
            status=s,
            usage=SONNET_USAGE,
            prompt_key="triage",
            prompt_version=f"v{1 + i % 2}",
        )
        for i, (p, m, s) in enumerate(sonnet)
    ]
    # gpt-4o: 1000 input × $2.50/M + 100 output × $10/M = $0.0035 each
    gpt = {"input_tokens": 1000, "output_tokens": 100}
    out += [event(i, status="error" if i == 0 else "ok", usage=gpt) for i in range(3)]
    return out


async def get(running: Running, path: str, **params: Any) -> dict[str, Any]:
    r = await running.client.get(path, params=params, headers=running.org.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_failed_spend_share_status_filter_and_canonical_models(running: Running) -> None:
    await send(running, _events())
    summary = await get(running, "/v1/summary", **DAY)
    assert summary["totals"]["cost_usd"] == "1.2105"  # 4 × 0.30 + 3 × 0.0035
    assert summary["failed"] == {
        "requests": 3,
        "cost_usd": "0.6035",
        "share_pct": "49.86",
        "by_status": {"cancelled": "0.3", "error": "0.0035", "timeout": "0.3"},
    }

    failed = await get(running, "/v1/breakdown", by="provider", status="failed", **DAY)
    assert [(r["keys"], r["cost_usd"], r["requests"]) for r in failed["rows"]] == [
        (["anthropic"], "0.3", 1),  # the gateway call, under its model's provider
        (["vertex"], "0.3", 1),
        (["openai"], "0.0035", 1),
    ]
    assert failed["totals"]["cost_usd"] == "0.6035" and failed["status"] == "failed"
    timeouts = await get(running, "/v1/breakdown", by="feature", status="timeout", **DAY)
    assert [(r["keys"], r["cost_usd"]) for r in timeouts["rows"]] == [(["summarize"], "0.3")]
    ok = await get(running, "/v1/breakdown", by="model", status="ok", **DAY)
    assert sum(Decimal(r["cost_usd"]) for r in ok["rows"]) == Decimal("0.607")

    models = await get(running, "/v1/breakdown", by="canonical_model", **DAY)
    assert [(r["keys"], r["requests"], r["cost_usd"]) for r in models["rows"]] == [
        (["claude-sonnet-4-5"], 4, "1.2"),
        (["gpt-4o"], 3, "0.0105"),
    ]
    assert models["levels"] == ["canonical_model"] and models["rows"][0]["share_pct"] == "99.13"
    raw = await get(running, "/v1/breakdown", by="model", **DAY)
    assert len(raw["rows"]) == 5  # as sent: four spellings of one model, and gpt-4o

    as_sent = await get(running, "/v1/prompts/compare", prompt_key="triage", **DAY)
    assert len(as_sent["rows"]) == 4
    across = await get(
        running, "/v1/prompts/compare", prompt_key="triage", model_by="canonical_model", **DAY
    )
    assert [
        (r["prompt_version"], r["model"], r["requests"], r["cost_usd"]) for r in across["rows"]
    ] == [
        ("v1", "claude-sonnet-4-5", 2, "0.6"),
        ("v2", "claude-sonnet-4-5", 2, "0.6"),
    ]
    assert all(r["p95_latency_ms"] == 120.0 for r in across["rows"])  # merged quantile states


@pytest.mark.parametrize(
    "params",
    [
        {"by": "status", "status": "failed"},
        {"by": "model", "then": "team", "status": "ok"},
        {"by": "model", "status": "broken"},
        {"by": "canonical_model", "then": "team"},
        {"by": "canonical_model", "status": "failed"},
    ],
)
async def test_status_and_canonical_model_misuse_is_refused(
    running: Running, params: dict[str, str]
) -> None:
    r = await running.client.get("/v1/breakdown", params=params, headers=running.org.headers)
    assert r.status_code == 422, r.text
