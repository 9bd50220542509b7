"""Delivering alerts: Slack incoming webhooks and signed generic webhooks, with retries.

Generic webhooks get the alert as a JSON body and two headers a receiver checks::

    X-CostObs-Timestamp: <unix seconds when this attempt was sent>
    X-CostObs-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + exact body bytes)>

The timestamp is inside the signed bytes, so a receiver that rejects timestamps older than a
few minutes (``verify_signature`` does) cannot be fed a replayed request. Each retry is signed
afresh. ``X-CostObs-Delivery`` carries the fire id, identical on every retry, for receivers
that want to drop duplicates.

Retries: network errors, 408, 429 and 5xx are retried with exponential backoff (``Retry-After``
honoured, capped) up to ``attempts`` times; other 4xx are final. Every attempt is written to the
delivery log.

Only the status code of an answer is kept, never its body (not even read): the log and the
test endpoint must not turn a target URL into a way of reading what some server says. Every
connection goes through ``alerting.addresses``: a destination the allow-list does not permit
is refused before anything is sent ("blocked", never retried).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson

from alerting import metrics
from alerting.addresses import BlockedAddress, GuardedTransport, TargetPolicy
from alerting.rules import rule_currency
from alerting.store import AlertStore, Target
from costobs_server.vocabulary import usd

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CostObs-Signature"
TIMESTAMP_HEADER = "X-CostObs-Timestamp"
DELIVERY_HEADER = "X-CostObs-Delivery"
EVENT_HEADER = "X-CostObs-Event"
REPLAY_TOLERANCE_S = 300

_KIND_TITLES = {
    "daily_threshold": "Daily spend over threshold",
    "spike": "Spend spike",
    "monthly_budget": "Monthly budget exceeded",
    "projected_monthly_budget": "Month-end forecast over budget",
}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance_s: int = REPLAY_TOLERANCE_S,
) -> bool:
    """What a receiver runs: the signature matches the exact body and the timestamp is fresh."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered[TIMESTAMP_HEADER.lower()])
        signature = lowered[SIGNATURE_HEADER.lower()]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _amount(text: str, code: str) -> str:
    """A figure in ``code`` for people: USD as above, others rounded to their minor units."""
    if code == "USD":
        return usd(text)
    from costobs_server.currency import currency, display

    return display(Decimal(text), currency(code))


def _rate_line(shown: Mapping[str, Any]) -> str:
    """ "EUR at 0.92 per USD (rate of 2026-11-02)", saying when that is an earlier day's."""
    if shown.get("rate") is None:
        return f"no {shown['currency']} rate yet"
    line = f"{shown['currency']} at {shown['rate']} per USD (rate of {shown['rate_date']}"
    return line + (", the latest before today)" if shown.get("fallback") else ")")


def figures(alert: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(observed, threshold, rate line) as people read them: in the rule's currency, with the
    org's display currency beside USD figures when it has one."""
    details = alert.get("details") or {}
    code = alert.get("currency") or "USD"
    observed = _amount(alert["observed"], code)
    threshold = _amount(alert["threshold"], code)
    if code != "USD":
        spent = details.get("observed_usd")
        shown_usd = f"{observed} ({usd(spent)})" if spent else observed
        return shown_usd, threshold, _rate_line(details)
    shown = details.get("display")
    if not shown:
        return observed, threshold, None
    other = shown["currency"]
    return (
        f"{observed} ({_amount(shown['observed'], other)})",
        f"{threshold} ({_amount(shown['threshold'], other)})",
        _rate_line(shown),
    )


def slack_message(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Slack Block Kit: a header, the figures side by side, scope and time as context."""
    rule = alert["rule"]
    title = _KIND_TITLES.get(rule["kind"], rule["kind"])
    prefix = "[TEST] " if alert.get("type") == "alert.test" else ""
    observed, threshold, rate = figures(alert)
    label = "Forecast" if rule["kind"] == "projected_monthly_budget" else "Spend"
    group = f" — {rule.get('group_by')}: *{alert['group']}*" if alert.get("group") else ""
    scope = ", ".join(f"{k}={v}" for k, v in (rule.get("scope") or {}).items()) or "all spend"
    text = f"{prefix}{rule['name']}: {label.lower()} {observed} > {threshold} ({alert['period']})"
    return {
        "text": text,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": f"{prefix}CostObs: {rule['name']}"[:150]},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{title}*{group}"},
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{observed}"},
                    {"type": "mrkdwn", "text": f"*Threshold*\n{threshold}"},
                    {"type": "mrkdwn", "text": f"*Period*\n{alert['period']}"},
                    {"type": "mrkdwn", "text": f"*Scope*\n{scope}"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"org {alert['org_id']} · fired {alert['fired_at']} · "
                        f"time zone {alert.get('timezone', 'UTC')}"
                        + (f" · {rate}" if rate else ""),
                    }
                ],
            },
        ],
    }


@dataclass(frozen=True)
class Outcome:
    target_id: str
    ok: bool
    attempts: int
    status_code: int | None
    error: str

    def as_json(self) -> dict[str, Any]:
        return {
            "target_id": self.target_id,
            "ok": self.ok,
            "attempts": self.attempts,
            "status_code": self.status_code,
            "error": self.error,
        }


class Deliverer:
    def __init__(
        self,
        store: AlertStore,
        *,
        attempts: int = 5,
        base_delay_s: float = 1.0,
        timeout_s: float = 10.0,
        policy: TargetPolicy | None = None,
    ) -> None:
        self.store = store
        self.attempts = attempts
        self.base_delay_s = base_delay_s
        self.timeout_s = timeout_s
        self.policy = policy or TargetPolicy()  # nothing private unless allowed

    async def deliver(
        self,
        org_id: str,
        targets: list[Target],
        alert: Mapping[str, Any],
        *,
        fire_id: str | None = None,
        rule_id: str | None = None,
        test: bool = False,
    ) -> list[Outcome]:
        async with httpx.AsyncClient(
            timeout=self.timeout_s,
            transport=GuardedTransport(self.policy),
            follow_redirects=False,
            trust_env=False,
        ) as client:
            return list(
                await asyncio.gather(
                    *(self._one(client, org_id, t, alert, fire_id, rule_id, test) for t in targets)
                )
            )

    async def _one(
        self,
        client: httpx.AsyncClient,
        org_id: str,
        target: Target,
        alert: Mapping[str, Any],
        fire_id: str | None,
        rule_id: str | None,
        test: bool,
    ) -> Outcome:
        body = orjson.dumps(slack_message(alert) if target.kind == "slack" else alert)
        status: int | None = None
        error = ""
        for attempt in range(1, self.attempts + 1):
            headers = {"Content-Type": "application/json", "User-Agent": "costobs-alertd/1"}
            if target.kind == "webhook":
                now = int(time.time())
                headers[EVENT_HEADER] = str(alert.get("type", "alert.fired"))
                headers[DELIVERY_HEADER] = str(alert.get("id", ""))
                headers[TIMESTAMP_HEADER] = str(now)
                if target.secret:
                    headers[SIGNATURE_HEADER] = sign(target.secret, now, body)
            retry_after: float | None = None
            try:
                async with client.stream(
                    "POST", target.url, content=body, headers=headers
                ) as response:
                    status = response.status_code
                    retry_after = _retry_after(response.headers.get("retry-after"))
                ok = 200 <= status < 300
                error = "" if ok else f"HTTP {status}"
                retryable = status in (408, 429) or status >= 500
            except httpx.HTTPError as exc:
                status, ok = None, False
                refusal = _refusal(exc)
                retryable = refusal is None
                error = (
                    f"blocked: {refusal}" if refusal else f"no HTTP answer ({type(exc).__name__})"
                )
            await asyncio.to_thread(
                self.store.record_delivery,
                org_id,
                target_id=target.id,
                attempt=attempt,
                ok=ok,
                status_code=status,
                error=error,
                fire_id=fire_id,
                rule_id=rule_id,
                test=test,
            )
            metrics_label = "ok" if ok else ("retry" if retryable else "failed")
            metrics.DELIVERIES.labels(target.kind, metrics_label).inc()
            if ok:
                return Outcome(target.id, True, attempt, status, "")
            if not retryable or attempt == self.attempts:
                break
            delay = self.base_delay_s * 2 ** (attempt - 1)
            if retry_after is not None:
                delay = max(delay, min(retry_after, 60.0))
            log.warning(
                "alert delivery to %s failed (%s); retry %d in %.1fs",
                target.id,
                error,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
        log.error("alert delivery to target %s failed: %s", target.id, error)
        return Outcome(target.id, False, attempt, status, error)


def _refusal(exc: BaseException) -> str | None:
    """The allow-list's reason when it refused the connection (httpx wraps it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BlockedAddress):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def alert_payload(
    rule: Any,
    *,
    fire: Any | None = None,
    test: bool = False,
) -> dict[str, Any]:
    """The JSON a webhook receives (and the source of the Slack message).

    ``rule`` is an ``alerting.rules.Rule``; ``fire`` an ``alerting.store.Fire`` (None for a test).
    """
    code = rule_currency(rule.config)
    common = {
        "currency": code,
        "rule": {
            "id": rule.id,
            "name": rule.name,
            "kind": rule.kind,
            "config": dict(rule.config),
            "scope": dict(rule.scope_raw),
            "group_by": rule.group_by_raw,
        },
        "org_id": rule.org_id,
        "timezone": str(rule.tz),
    }
    if fire is None:
        now = datetime.now(UTC)
        threshold = next(iter(rule.config.values())) if rule.kind != "spike" else "0"
        return {
            "type": "alert.test",
            "id": f"test-{int(now.timestamp() * 1000)}",
            **common,
            "group": None,
            "period": rule.local_day(now).isoformat(),
            "observed": "0",
            "threshold": threshold,
            "observed_usd": "0",
            "threshold_usd": threshold if code == "USD" else None,
            "fired_at": now.isoformat(),
            "details": {"note": "test alert: no threshold was crossed"},
        }
    return {
        "type": "alert.test" if test else "alert.fired",
        "id": fire.id,
        **common,
        "group": fire.group or None,
        "period": fire.period,
        "observed": fire.observed,
        "threshold": fire.threshold,
        # a limit in another currency: observed/threshold are in it; the USD spend is here
        "observed_usd": fire.observed if code == "USD" else fire.details.get("observed_usd"),
        "threshold_usd": fire.threshold if code == "USD" else None,
        "fired_at": fire.fired_at.isoformat(),
        "details": fire.details,
    }
