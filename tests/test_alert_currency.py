"""Alert limits in another currency, judged on spend converted day by day, and the org's display
currency in alert messages: pure rules first, then alertd end to end with a loopback webhook."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.currency import display_details, evaluate_in_currency
from alerting.delivery import alert_payload, slack_message
from alerting.rules import Rule, RuleSpec
from alerting.store import Fire
from costobs_server.currency import RateBook, currency
from tests.fake_http import fake_server
from tests.helpers import Running
from tests.test_alertd import StartAlertd, alertd, api, create_rule, spend, webhook

__all__ = ["alertd"]  # the fixture, imported

NOV = [date(2026, 11, d) for d in range(1, 31)]
NOON_2ND = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
EUR = RateBook(currency("EUR"), {NOV[0]: D("0.9"), NOV[1]: D("0.92")})


def rule(kind: str, config: dict[str, Any]) -> Rule:
    return Rule.build(
        id="r1", org_id="o1", name="Budget", kind=kind, config=config, scope={},
        group_by=None, timezone="UTC", cooldown_minutes=60,
    )  # fmt: skip


def test_a_limit_in_a_currency_is_validated_and_normalised() -> None:
    assert rule("monthly_budget", {"budget": "900.50", "currency": "eur"}).config == {
        "budget": "900.5",
        "currency": "EUR",
    }
    # USD named explicitly is the plain USD rule
    assert rule("daily_threshold", {"threshold": "5", "currency": "USD"}).config == {
        "threshold_usd": "5"
    }
    spec = {"name": "b", "kind": "monthly_budget"}
    with pytest.raises(ValidationError, match=r"config.currency: 'EUX' is not an ISO 4217"):
        RuleSpec.model_validate({**spec, "config": {"budget": "9", "currency": "EUX"}})
    with pytest.raises(ValidationError, match=r"unknown key\(s\) \['budget_usd'\]"):
        RuleSpec.model_validate(
            {**spec, "config": {"budget": "9", "budget_usd": "9", "currency": "EUR"}}
        )
    with pytest.raises(ValidationError, match="needs 'budget'"):
        RuleSpec.model_validate({**spec, "config": {"currency": "EUR"}})


def test_a_budget_in_euros_converts_each_day_with_its_rate() -> None:
    budget = rule("monthly_budget", {"budget": "900", "currency": "EUR"})
    days = {NOV[0]: D("500"), NOV[1]: D("500")}
    breach = evaluate_in_currency(budget, days, NOON_2ND, "", {"EUR": EUR})
    # 500 × 0.9 + 500 × 0.92 = 910 > 900 (at one rate of 0.9 it would be 900: not over)
    assert breach is not None
    assert (breach.observed, breach.threshold) == (D("910.00"), D("900"))
    assert breach.details == {
        "month": "2026-11", "currency": "EUR", "rate": "0.92", "rate_date": "2026-11-02",
        "fallback": False, "observed_usd": "1000",
    }  # fmt: skip
    assert evaluate_in_currency(budget, {NOV[0]: D("999")}, NOON_2ND, "", {"EUR": EUR}) is None
    # no rates of that currency, or spend on a day before the first rate: not judged
    assert evaluate_in_currency(budget, days, NOON_2ND, "", {}) is None
    late = RateBook(currency("EUR"), {NOV[1]: D("0.92")})
    assert evaluate_in_currency(budget, days, NOON_2ND, "", {"EUR": late}) is None


def test_a_usd_rule_carries_the_display_figures() -> None:
    threshold = rule("daily_threshold", {"threshold_usd": "100"})
    days = {NOV[0]: D("10"), NOV[1]: D("150.005")}
    breach = evaluate_in_currency(threshold, days, NOON_2ND, "", {})
    assert breach is not None and breach.observed == D("150.005")
    shown = display_details(threshold, breach, days, NOON_2ND, EUR)
    assert shown == {
        "currency": "EUR", "observed": "138.0046", "threshold": "92", "rate": "0.92",
        "rate_date": "2026-11-02", "fallback": False,
    }  # fmt: skip
    later = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # no rate on the 5th: the 2nd's
    budget = rule("monthly_budget", {"budget_usd": "100"})
    month = {NOV[0]: D("100"), NOV[4]: D("50")}
    over = evaluate_in_currency(budget, month, later, "", {})
    assert over is not None
    assert display_details(budget, over, month, later, EUR) == {
        "currency": "EUR",
        "observed": "136",
        "threshold": "92",
        "rate": "0.92",
        "rate_date": "2026-11-02",
        "fallback": True,
    }  # fmt: skip  (100 × 0.9 + 50 × 0.92)


def test_messages_show_the_currency_and_the_rate() -> None:
    budget = rule("monthly_budget", {"budget": "900", "currency": "EUR"})
    breach = evaluate_in_currency(
        budget, {NOV[0]: D("500"), NOV[1]: D("500")}, NOON_2ND, "", {"EUR": EUR}
    )
    assert breach is not None
    fire = Fire(
        id="f1", org_id="o1", rule_id="r1", group="", period="2026-11", seq=0,
        fired_at=NOON_2ND, observed="910", threshold="900", details=breach.details,
    )  # fmt: skip
    payload = alert_payload(budget, fire=fire)
    assert (payload["currency"], payload["observed"], payload["threshold"]) == ("EUR", "910", "900")
    assert (payload["observed_usd"], payload["threshold_usd"]) == ("1000", None)
    message = slack_message(payload)
    assert message["text"] == "Budget: spend 910.00 EUR ($1,000.00) > 900.00 EUR (2026-11)"
    context = message["blocks"][2]["elements"][0]["text"]
    assert context.endswith("· EUR at 0.92 per USD (rate of 2026-11-02)")


async def test_alertd_fires_a_limit_in_euros(running: Running, alertd: StartAlertd) -> None:
    await api(running, "PUT", "/v1/currency", {"display_currency": "EUR"})
    await api(running, "PUT", "/v1/currency/rates/EUR", {"rate": "0.5"})  # since 2000-01-01
    with fake_server() as hook:
        target = await webhook(running, hook.url + "/hook")
        await create_rule(running, [target["id"]], config={"threshold": "1", "currency": "EUR"})
        await alertd()
        await running.post([spend(8)])  # $2.00 = 1.00 EUR: equal does not fire
        await asyncio.sleep(0.5)
        assert hook.requests == []
        await running.post([spend(1)])  # $2.25 = 1.125 EUR > 1 EUR
        (request,) = await asyncio.to_thread(hook.wait_for, 1, 5.0)
        alert = request.json()
        assert (alert["currency"], alert["observed"], alert["threshold"]) == ("EUR", "1.125", "1")
        assert (alert["observed_usd"], alert["threshold_usd"]) == ("2.25", None)
        details = alert["details"]
        assert (details["rate"], details["rate_date"], details["fallback"]) == (
            "0.5",
            "2000-01-01",
            True,
        )


def test_the_alerts_page_history_labels_each_fire_with_its_currency_and_rate() -> None:
    from dashboard.alerts_view import history_rows

    common = {"rule_id": "r1", "group": None, "period": "2026-11", "status": "delivered",
              "fired_at": "2026-11-02T12:00:00+00:00", "deliveries": []}  # fmt: skip
    in_euros = {  # a budget in EUR stores EUR figures (the history's currency says so)
        **common, "currency": "EUR", "observed_usd": "910", "threshold_usd": "900",
        "details": {"currency": "EUR", "rate": "0.92", "rate_date": "2026-11-02",
                    "fallback": False, "observed_usd": "1000"},
    }  # fmt: skip
    shown_in_euros = {  # a USD rule of an org that shows EUR
        **common, "currency": "USD", "observed_usd": "150.005", "threshold_usd": "100",
        "details": {"display": {"currency": "EUR", "observed": "138.0046", "threshold": "92",
                                "rate": "0.92", "rate_date": "2026-11-01", "fallback": True}},
    }  # fmt: skip
    plain = {**common, "currency": "USD", "observed_usd": "0.0035", "threshold_usd": "0",
             "details": {}}  # fmt: skip
    rows = history_rows([in_euros, shown_in_euros, plain], [{"id": "r1", "name": "Budget"}])
    assert rows["Observed"] == ["910.00 EUR ($1,000.00)", "$150.005 (138.00 EUR)", "$0.0035"]
    assert rows["Threshold"] == ["900.00 EUR", "$100.00 (92.00 EUR)", "$0.00"]
    assert rows["Rate"] == [
        "EUR at 0.92 per USD (rate of 2026-11-02)",
        "EUR at 0.92 per USD (rate of 2026-11-01, the latest before today)",
        "—",
    ]
