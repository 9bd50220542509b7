"""alertd end to end: ingest → JetStream → alertd → a signed webhook on loopback, plus the
alerts API, restarts, several instances, retries and the claim on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from alerting.delivery import verify_signature
from alerting.rules import Breach, RuleSpec
from alerting.store import AlertStore
from alerting.worker import AlertD
from costobs_server.metadata.db import MetadataDB
from costobs_server.serve import Stack
from tests.fake_http import Reply, Request, fake_server, json_reply
from tests.helpers import Running, event, eventually, new_org

StartAlertd = Callable[[], Awaitable[AlertD]]


@pytest.fixture
async def alertd(running: Running) -> AsyncIterator[StartAlertd]:
    """Start alertd processes (as their own Stack) beside the running ingest + writer."""
    stacks: list[Stack] = []

    async def start() -> AlertD:
        settings = running.stack.settings.model_copy(
            update={
                "alertd_port": 0,
                "alert_rule_refresh_s": 0.2,
                "alert_reconcile_s": 2.0,
                "alert_retry_base_s": 0.05,
            }
        )
        stack = Stack(settings, frozenset({"alertd"}), nats_auth=running.stack.nats_auth)
        await stack.start()
        stacks.append(stack)
        worker: AlertD = stack.workers[0]
        await asyncio.wait_for(worker.started.wait(), 20)
        worker.stack = stack  # type: ignore[attr-defined]
        return worker

    yield start
    for stack in stacks:
        if not stack._stopping:
            await stack.stop()


async def stop(worker: AlertD) -> None:
    await worker.stack.stop()  # type: ignore[attr-defined]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def spend(usd_quarters: int, **fields: Any) -> dict[str, Any]:
    """An event costing exactly usd_quarters × $0.25 (gpt-4o input: $2.50 per 1M tokens)."""
    usage = {"input_tokens": usd_quarters * 100_000, "output_tokens": 0}
    made = event(0, timestamp=now_iso(), usage=usage, **fields)
    if "customer_id" not in fields:
        del made["customer_id"]
    return made


async def api(running: Running, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    r = await running.client.request(method, path, json=body, headers=running.org.headers)
    assert r.status_code == status, r.text
    return None if r.status_code == 204 else r.json()


async def webhook(running: Running, url: str, kind: str = "webhook") -> dict[str, Any]:
    target: dict[str, Any] = await api(
        running, "POST", "/v1/alerts/targets", {"kind": kind, "url": url}, 201
    )
    return target


async def create_rule(running: Running, targets: list[str], **spec: Any) -> dict[str, Any]:
    body = {"name": "rule", "kind": "daily_threshold", "target_ids": targets} | spec
    created: dict[str, Any] = await api(running, "POST", "/v1/alerts/rules", body, 201)
    return created


async def fires(running: Running, rule_id: str | None = None) -> list[dict[str, Any]]:
    path = "/v1/alerts/history" + (f"?rule_id={rule_id}" if rule_id else "")
    history: list[dict[str, Any]] = (await api(running, "GET", path))["fires"]
    return history


async def test_crossing_fires_a_signed_webhook_within_5_seconds(
    running: Running, alertd: StartAlertd
) -> None:
    with fake_server() as hook:
        target = await webhook(running, hook.url + "/hook")
        secret = target["secret"]
        rule = await create_rule(running, [target["id"]], config={"threshold_usd": "2"})
        await alertd()
        below = await running.post([spend(8)])  # exactly $2.00: equal does not fire
        assert below.json()["accepted"] == 1
        await asyncio.sleep(0.5)
        assert hook.requests == []
        accepted_at = time.monotonic()
        r = await running.post([spend(1)])  # $2.25 > $2
        assert r.status_code == 202
        (request,) = await asyncio.to_thread(hook.wait_for, 1, 5.0)
        assert request.at - accepted_at < 5.0
        assert request.path == "/hook"
        assert verify_signature(secret, request.body, request.headers)
        assert not verify_signature(secret, request.body + b" ", request.headers)
        assert not verify_signature("whsec_wrong", request.body, request.headers)
        stale = time.time() + 301
        assert not verify_signature(secret, request.body, request.headers, now=stale)
        alert = request.json()
        assert alert["type"] == "alert.fired"
        assert alert["rule"]["id"] == rule["id"] and alert["org_id"] == running.org.id
        assert (alert["observed_usd"], alert["threshold_usd"]) == ("2.25", "2")
        assert alert["period"] == datetime.now(UTC).date().isoformat()
        assert request.headers["x-costobs-delivery"] == alert["id"]

        async def delivered() -> bool:
            history = await fires(running)
            return len(history) == 1 and history[0]["status"] == "delivered"

        await eventually(delivered, within=5)
        (fire,) = await fires(running)
        assert fire["observed_usd"] == "2.25" and fire["threshold_usd"] == "2"
        assert [d["ok"] for d in fire["deliveries"]] == [True]
        await asyncio.sleep(0.5)
        assert len(hook.requests) == 1  # more spend in the same day: no second fire
        await running.post([spend(4)])
        await asyncio.sleep(1.0)
        assert len(hook.requests) == 1


async def test_group_by_fires_per_offender(running: Running, alertd: StartAlertd) -> None:
    with fake_server() as hook:
        target = await webhook(running, hook.url)
        await create_rule(
            running,
            [target["id"]],
            config={"threshold_usd": 1},
            group_by="customer",
            scope={"provider": "openai", "tags": {"env": "prod"}},
        )
        await alertd()
        prod = {"tags": {"env": "prod"}}
        await running.post(
            [
                spend(3, customer_id="cust-a", **prod),  # 0.75: below
                spend(2, customer_id="cust-a", **prod),  # 1.25: fires
                spend(5, customer_id="cust-b", **prod),  # fires
                spend(4, customer_id="cust-c", **prod),  # exactly 1: no
                spend(9, customer_id="cust-d", tags={"env": "dev"}),  # out of scope
                spend(9, **prod),  # no customer: no group
            ]
        )
        requests = await asyncio.to_thread(hook.wait_for, 2, 5.0)
        await asyncio.sleep(1.0)
        assert len(requests) == 2
        got = sorted((r.json()["group"], r.json()["observed_usd"]) for r in requests)
        assert got == [("cust-a", "1.25"), ("cust-b", "1.25")]


async def test_one_model_across_clouds_and_gateways_counts_as_one(
    running: Running, alertd: StartAlertd
) -> None:
    """canonical_model scopes a rule to a model however it was reached; provider is the one
    the writer records (a gateway call under its model's provider)."""
    with fake_server() as hook:
        target = await webhook(running, hook.url)
        await create_rule(
            running,
            [target["id"]],
            config={"threshold_usd": "0.8"},
            group_by="provider",
            scope={"canonical_model": "claude-sonnet-4-5"},
        )
        await alertd()
        usage = {"input_tokens": 100_000}  # $0.30 each at $3 per 1M input tokens
        sonnet = [
            ("anthropic", "claude-sonnet-4-5-20250929"),
            ("openai_compatible", "anthropic/claude-sonnet-4-5"),  # through a gateway
            ("anthropic", "claude-sonnet-4-5"),
            ("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            ("openai", "gpt-4o"),  # another model: out of scope
        ]
        await running.post(
            [
                event(i, timestamp=now_iso(), provider=p, model=m, usage=usage)
                for i, (p, m) in enumerate(sonnet)
            ]
        )
        (request,) = await asyncio.to_thread(hook.wait_for, 1, 5.0)
        assert (request.json()["group"], request.json()["observed_usd"]) == ("anthropic", "0.9")


async def test_restart_and_several_instances_never_double_fire(
    running: Running, alertd: StartAlertd
) -> None:
    with fake_server() as hook:
        target = await webhook(running, hook.url)
        first = await create_rule(running, [target["id"]], config={"threshold_usd": 2})
        worker = await alertd()
        await running.post([spend(10)])
        await asyncio.to_thread(hook.wait_for, 1, 5.0)
        await stop(worker)

        again = await alertd()  # restart: the breach is still there, the claim too
        await asyncio.sleep(1.0)
        assert len(hook.requests) == 1 and again.fired == 0
        await stop(again)

        # breached while alertd was down: fires when it comes back (from ClickHouse)
        second = await create_rule(running, [target["id"]], config={"threshold_usd": "2.49"})
        worker = await alertd()
        (_, request) = await asyncio.to_thread(hook.wait_for, 2, 5.0)
        assert request.json()["rule"]["id"] == second["id"]
        assert request.json()["observed_usd"] == "2.5"
        await stop(worker)

        # two instances at once, one breach: one fire (both pick the new rule up)
        a, b = await alertd(), await alertd()
        third = await create_rule(running, [target["id"]], config={"threshold_usd": 1})
        await asyncio.to_thread(hook.wait_for, 3, 5.0)
        await asyncio.sleep(1.0)
        assert len(hook.requests) == 3 and a.fired + b.fired == 1
        by_rule = {f["rule_id"] for f in await fires(running)}
        assert by_rule == {first["id"], second["id"], third["id"]}
        assert len(await fires(running)) == 3


async def test_retries_with_backoff_slack_blocks_and_failures(
    running: Running, alertd: StartAlertd
) -> None:
    calls = {"n": 0}

    def flaky(_: Request) -> Reply:
        calls["n"] += 1
        return (503, {}, b"busy") if calls["n"] <= 2 else (200, {}, b"ok")

    with (
        fake_server(flaky) as hook,
        fake_server() as slack,
        fake_server(lambda _: json_reply(404, {"error": "gone"})) as gone,
    ):
        retried = await webhook(running, hook.url)
        slack_target = await webhook(running, slack.url + "/services/T0/B0/xyz", kind="slack")
        dead = await webhook(running, gone.url)
        ids = [retried["id"], slack_target["id"], dead["id"]]
        rule = await create_rule(
            running, ids, name="Budget", kind="monthly_budget", config={"budget_usd": "0.5"}
        )
        listed = (await api(running, "GET", "/v1/alerts/targets"))["targets"]
        assert {t["url"] for t in listed} >= {slack.url + "/services/…"}  # the secret URL
        assert all("secret" not in t for t in listed)
        await alertd()
        await running.post([spend(3)])  # $0.75 > $0.50
        await asyncio.to_thread(hook.wait_for, 3, 5.0)
        (message,) = await asyncio.to_thread(slack.wait_for, 1, 5.0)
        blocks = message.json()
        assert blocks["text"].startswith("Budget: spend $0.75 > $0.50")
        assert blocks["blocks"][0]["type"] == "header"
        fields = [f["text"] for f in blocks["blocks"][1]["fields"]]
        assert "*Spend*\n$0.75" in fields and "*Threshold*\n$0.50" in fields

        async def settled() -> bool:
            history = await fires(running, rule["id"])
            return len(history) == 1 and history[0]["status"] != "pending"

        await eventually(settled, within=5)
        (fire,) = await fires(running, rule["id"])
        assert fire["status"] == "failed"  # one target answered 404 (not retried)
        attempts = {t: [] for t in ids}  # type: dict[str, list[Any]]
        for d in fire["deliveries"]:
            attempts[d["target_id"]].append((d["attempt"], d["ok"], d["status_code"]))
        assert attempts[retried["id"]] == [(1, False, 503), (2, False, 503), (3, True, 200)]
        assert attempts[slack_target["id"]] == [(1, True, 200)]
        assert attempts[dead["id"]] == [(1, False, 404)]
        # the retried webhook carried the same delivery id each time, freshly signed
        assert len({r.headers["x-costobs-delivery"] for r in hook.requests}) == 1
        assert all(verify_signature(retried["secret"], r.body, r.headers) for r in hook.requests)


async def test_alerts_api_crud_validation_scopes_and_test_alert(running: Running) -> None:
    with fake_server() as hook:
        target = await webhook(running, hook.url)
        body = {
            "name": "Payments prod",
            "kind": "spike",
            "config": {"factor": 2.5, "baseline": "yesterday"},
            "scope": {"team": "payments", "environment": ["prod", "staging"]},
            "group_by": "tag:pr",
            "timezone": "Asia/Kolkata",
            "cooldown_minutes": 30,
        }
        created = await create_rule(running, [target["id"]], **body)
        assert created["config"] == {"factor": "2.5", "baseline": "yesterday"}
        assert created["scope"] == body["scope"] and created["group_by"] == "tag:pr"
        rule_id = created["id"]
        assert (await api(running, "GET", f"/v1/alerts/rules/{rule_id}"))["name"] == body["name"]
        patched = await api(running, "PATCH", f"/v1/alerts/rules/{rule_id}", {"enabled": False})
        assert patched["enabled"] is False and patched["config"] == created["config"]
        replaced = await api(
            running,
            "PUT",
            f"/v1/alerts/rules/{rule_id}",
            {"name": "n", "kind": "monthly_budget", "config": {"budget_usd": "1e3"}},
        )
        assert replaced["config"] == {"budget_usd": "1000"} and replaced["target_ids"] == []
        await api(running, "PATCH", f"/v1/alerts/rules/{rule_id}", {"target_ids": [target["id"]]})

        result = await api(running, "POST", f"/v1/alerts/rules/{rule_id}/test")
        assert result["ok"] is True
        (request,) = await asyncio.to_thread(hook.wait_for, 1, 5.0)
        assert request.json()["type"] == "alert.test"
        assert verify_signature(target["secret"], request.body, request.headers)
        log = (await api(running, "GET", "/v1/alerts/deliveries"))["deliveries"]
        assert [(d["test"], d["ok"], d["rule_id"]) for d in log] == [(True, True, rule_id)]

        # a JSON number is read from its text, exactly (never through a float)
        exact = await create_rule(running, [], config={"threshold_usd": 0.1})
        assert exact["config"] == {"threshold_usd": "0.1"}
        await api(running, "DELETE", f"/v1/alerts/rules/{exact['id']}", status=204)
        bad = {"name": "x", "kind": "daily_threshold", "config": {"threshold_usd": -1}}
        r = await running.client.post("/v1/alerts/rules", json=bad, headers=running.org.headers)
        assert r.status_code == 422 and "threshold_usd must be" in r.text
        r = await running.client.post(
            "/v1/alerts/rules",
            json=bad | {"config": {"threshold_usd": 1}, "target_ids": ["nope"]},
            headers=running.org.headers,
        )
        assert r.status_code == 422 and "no alert target" in r.text

        reader = new_org(running.stack.services.db, scopes=("read",))  # type: ignore[union-attr]
        r = await running.client.post("/v1/alerts/rules", json=bad, headers=reader.headers)
        assert r.status_code == 403
        assert (await running.client.get("/v1/alerts/rules", headers=reader.headers)).json() == {
            "rules": []
        }  # another org sees none of these
        r = await running.client.get(f"/v1/alerts/rules/{rule_id}", headers=reader.headers)
        assert r.status_code == 404

        await api(running, "DELETE", f"/v1/alerts/targets/{target['id']}", status=204)
        assert (await api(running, "GET", f"/v1/alerts/rules/{rule_id}"))["target_ids"] == []
        await api(running, "DELETE", f"/v1/alerts/rules/{rule_id}", status=204)
        assert (await api(running, "GET", "/v1/alerts/rules"))["rules"] == []


def test_claim_is_unique_on_each_metadata_db(metadata_url: str) -> None:
    """The claim that stops double fires, on SQLite and PostgreSQL: two stores (two alertd
    instances) racing for the same (rule, group, period, seq) — one wins."""
    dbs = [MetadataDB.connect(metadata_url) for _ in range(2)]
    dbs[0].migrate()
    org = f"o{uuid.uuid4().hex[:8]}"
    dbs[0].ensure_org(org, timezone="Europe/Berlin")
    stores = [AlertStore(db) for db in dbs]
    spec = RuleSpec.model_validate(
        {"name": "n", "kind": "daily_threshold", "config": {"threshold_usd": "1"}}
    )
    rule_id = stores[0].create_rule(org, spec)["id"]
    rule = stores[1].rule(org, rule_id)
    assert str(rule.tz) == "Europe/Berlin"  # the org's zone when the rule has none
    from decimal import Decimal

    breach = Breach("cust-1", "2026-11-20", Decimal("1.5"), Decimal(1), {})
    now = datetime.now(UTC)
    won = [s.claim(rule, breach, 0, now) for s in stores]
    assert sum(f is not None for f in won) == 1
    assert stores[1].last_fire(rule_id, "cust-1", "2026-11-20") is not None
    assert stores[0].claim(rule, breach, 1, now) is not None  # the next fire after cooldown
    other_group = Breach("cust-2", "2026-11-20", Decimal("1.5"), Decimal(1), {})
    assert stores[1].claim(rule, other_group, 0, now) is not None
    history = stores[0].history(org)
    assert sorted((f["group"], f["seq"]) for f in history) == [
        ("cust-1", 0),
        ("cust-1", 1),
        ("cust-2", 0),
    ]
    assert history[0]["observed_usd"] == "1.5"
    for db in dbs:
        db.engine.dispose()


async def test_alertd_health_port(running: Running) -> None:
    from costobs_server.nats_server import free_port

    port = free_port()
    settings = running.stack.settings.model_copy(update={"alertd_port": port})
    stack = Stack(settings, frozenset({"alertd"}), nats_auth=running.stack.nats_auth)
    await stack.start()
    try:

        async def up() -> bool:
            try:
                r = await running.client.get(f"http://127.0.0.1:{port}/healthz")
            except Exception:
                return False
            return r.status_code == 200 and r.json()["status"] == "ok"

        await eventually(up, within=10)
        metrics = await running.client.get(f"http://127.0.0.1:{port}/metrics")
        assert "costobs_alertd_rules" in metrics.text
    finally:
        await stack.stop()


async def test_alerts_cli(running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    from costobs_server.cli import main as cli

    base = ["alerts", "--url", running.url, "--api-key", running.org.key]
    with fake_server() as hook:
        create = [
            *base,
            "create",
            "--name",
            "Team budget",
            "--kind",
            "monthly_budget",
            "--budget",
            "1000.50",
            "--scope",
            "team=payments,search",
            "--scope",
            "tag:env=prod",
            "--group-by",
            "customer",
            "--webhook",
            hook.url,
        ]
        assert await asyncio.to_thread(cli, create) == 0
        (rule,) = (await api(running, "GET", "/v1/alerts/rules"))["rules"]
        assert rule["config"] == {"budget_usd": "1000.5"}
        assert rule["scope"] == {"team": ["payments", "search"], "tags": {"env": "prod"}}
        assert await asyncio.to_thread(cli, [*base, "list"]) == 0
        assert await asyncio.to_thread(cli, [*base, "test", rule["id"]]) == 0
        assert hook.requests[0].json()["type"] == "alert.test"
        assert await asyncio.to_thread(cli, [*base, "targets", "list"]) == 0
        assert await asyncio.to_thread(cli, [*base, "delete", rule["id"]]) == 0
        assert await asyncio.to_thread(cli, [*base, "delete", rule["id"]]) == 2  # gone
    out = capsys.readouterr()
    assert "signing secret: whsec_" in out.out and "Team budget" in out.out
    assert "no alert rule" in out.err
