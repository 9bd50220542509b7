"""Provider bills synced from fake admin APIs, events tracked through ingest, and the
reconcile endpoint's figures checked exactly (worked out by hand below)."""

from __future__ import annotations

from decimal import Decimal

from tests.fake_http import fake_server
from tests.helpers import Running, event, eventually
from tests.test_billing import (
    ANTHROPIC_EXPECTED,
    OPENAI_EXPECTED,
    OPENAI_PAGES,
    anthropic_api,
    api_rows,
    bill_sync,
    openai_api,
    until_billed,
)


async def test_reconcile_after_billing_sync_is_exact(running: Running) -> None:
    with (
        fake_server(openai_api(dict(OPENAI_PAGES))) as openai,
        fake_server(anthropic_api) as anthropic,
    ):
        await bill_sync(running, openai, anthropic).sync_once()
    await until_billed(
        running, api_rows("openai", OPENAI_EXPECTED) | api_rows("anthropic", ANTHROPIC_EXPECTED)
    )
    # tracked: gpt-4o input at $2.50/M → 200k tokens = $0.50 on the 18th, 2M = $5 on the 19th;
    # nothing tracked for Anthropic
    events = [
        event(
            0, timestamp="2026-11-18T12:00:00Z", usage={"input_tokens": 200_000, "output_tokens": 0}
        ),
        event(
            1,
            timestamp="2026-11-19T12:00:00Z",
            usage={"input_tokens": 2_000_000, "output_tokens": 0},
        ),
    ]
    assert (await running.post(events)).json()["accepted"] == 2

    async def reconcile() -> dict[str, object]:
        r = await running.client.get(
            "/v1/reconcile",
            params={"from": "2026-11-18", "to": "2026-11-20"},
            headers=running.org.headers,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def tracked() -> bool:
        body = await reconcile()
        return body["totals"]["tracked_usd"] == "5.5"  # type: ignore[index]

    await eventually(tracked)
    body = await reconcile()
    assert body["billed_data"] is True
    rows = {
        (r["provider"], r["date"]): (
            r["tracked_usd"],
            r["billed_usd"],
            r["drift_usd"],
            r["drift_pct"],
            r["untracked_usd"],
        )
        for r in body["rows"]  # type: ignore[attr-defined]
    }
    assert rows == {
        # billed 1.24 + 0.0000000001 vs tracked 0.5: drift 0.7400000001 = 148.00 %
        ("openai", "2026-11-18"): ("0.5", "1.2400000001", "0.7400000001", "148.00", "0.7400000001"),
        # over-tracked: billed 3.3 vs 5 → drift −1.7 (−34 %), nothing untracked
        ("openai", "2026-11-19"): ("5", "3.3", "-1.7", "-34.00", "0"),
        ("openai", "2026-11-20"): ("0", "0", "0", None, "0"),
        # bills with no tracked events: wholly untracked; cents converted exactly
        ("anthropic", "2026-11-18"): ("0", "1.23455", "1.23455", None, "1.23455"),
        ("anthropic", "2026-11-19"): ("0", "1", "1", None, "1"),
        ("anthropic", "2026-11-20"): ("0", "0.071", "0.071", None, "0.071"),
    }
    totals = body["totals"]
    assert totals["tracked_usd"] == "5.5"  # type: ignore[index]
    assert Decimal(totals["billed_usd"]) == Decimal("1.2400000001") + Decimal("3.3") + Decimal(  # type: ignore[index]
        "1.23455"
    ) + 1 + Decimal("0.071")
    # untracked never nets over-tracking on one day against another
    assert totals["untracked_usd"] == "3.0455500001"  # type: ignore[index]
