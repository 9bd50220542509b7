"""Alert targets are not a port scanner: private, loopback and link-local destinations are
refused unless allowed (at creation and at every connection, after DNS resolution), the test
endpoint reports the status code and never the body, and URL secrets are not shown to keys
without the admin scope."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alerting.addresses import TargetPolicy, policy_from_settings
from alerting.delivery import Deliverer
from alerting.store import AlertStore
from costobs_server.errors import ConfigError
from costobs_server.metadata.db import DEFAULT_ORG, MetadataDB
from costobs_server.nats_server import NatsServer
from costobs_server.settings import load_settings
from costobs_server.store import EventStore
from tests.fake_http import Reply, Request, fake_server
from tests.helpers import FIXED_CLOCK_WINDOW, Running, running_stack

pytestmark = pytest.mark.timeout(120)

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "::ffff:127.0.0.1",
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (CGNAT)
    "0.0.0.0",
    "224.0.0.1",
    "fd00::1",
]


def test_only_public_addresses_pass_without_an_allow_list() -> None:
    policy = TargetPolicy()
    for text in REFUSED:
        assert not policy.allows_address(ipaddress.ip_address(text)), text
    for text in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert policy.allows_address(ipaddress.ip_address(text)), text
    allowing = TargetPolicy.from_entries(["10.0.0.0/8", "::1"])
    assert allowing.allows_address(ipaddress.ip_address("10.1.2.3"))
    assert allowing.allows_address(ipaddress.ip_address("::1"))
    assert not allowing.allows_address(ipaddress.ip_address("127.0.0.1"))


def test_the_allow_list_setting() -> None:
    embedded = load_settings(mode="embedded")
    assert embedded.alert_target_allow_entries == ("127.0.0.0/8", "::1")
    assert load_settings(mode="server").alert_target_allow_entries == ()
    assert load_settings(mode="embedded", alert_target_allow="").alert_target_allow_entries == ()
    listed = load_settings(alert_target_allow="10.0.0.0/8, hooks.internal ,fd00::/8")
    policy = policy_from_settings(listed)
    assert policy.hosts == frozenset({"hooks.internal"})
    assert len(policy.networks) == 2
    with pytest.raises(ConfigError, match="COSTOBS_ALERT_TARGET_ALLOW"):
        policy_from_settings(load_settings(alert_target_allow="10.0.0.0/8,not a host!"))


def _resolver(answers: list[list[str]]) -> Any:
    """A DNS that answers each lookup with the next list (the last one sticks)."""

    async def resolve(host: str, port: int) -> list[str]:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return resolve


async def test_a_name_rebound_to_loopback_is_refused_at_delivery(metadata: MetadataDB) -> None:
    store = AlertStore(metadata)
    with fake_server() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        url = f"http://hooks.example.test:{port}/hook"
        made = store.create_target(DEFAULT_ORG, "webhook", url)
        (target,) = store.targets(DEFAULT_ORG, [made["id"]])

        # public when the target is created, loopback when the alert is sent
        policy = TargetPolicy(resolve=_resolver([["93.184.216.34"], ["127.0.0.1"]]))
        await policy.check_url(url)  # creation passes
        deliverer = Deliverer(store, attempts=3, base_delay_s=0, policy=policy)
        (outcome,) = await deliverer.deliver(DEFAULT_ORG, [target], {"type": "alert.test"})
        assert not outcome.ok and outcome.status_code is None
        assert outcome.error.startswith("blocked: 'hooks.example.test' is a private")
        assert outcome.attempts == 1  # refused, not retried
        assert receiver.requests == []

        # the same name, allowed: the connection goes to the checked address itself
        allowed = TargetPolicy(
            networks=(ipaddress.ip_network("127.0.0.0/8"),), resolve=_resolver([["127.0.0.1"]])
        )
        deliverer = Deliverer(store, attempts=1, policy=allowed)
        (outcome,) = await deliverer.deliver(DEFAULT_ORG, [target], {"type": "alert.test"})
        assert outcome.ok, outcome
        (request,) = receiver.requests
        assert request.headers["host"] == f"hooks.example.test:{port}"


async def test_a_name_with_one_private_answer_is_refused() -> None:
    policy = TargetPolicy(resolve=_resolver([["93.184.216.34", "10.0.0.7"]]))
    with pytest.raises(ValueError, match="COSTOBS_ALERT_TARGET_ALLOW"):
        await policy.check_url("https://hooks.example.test/x")


@pytest.fixture
async def server_policy(
    nats_server: NatsServer, data_dir: Path, store: EventStore, tmp_path: Path
) -> AsyncIterator[Running]:
    """A stack whose alert targets may reach no private address (server mode's default)."""
    async with running_stack(
        nats_server, data_dir, tmp_path, alert_target_allow="", **FIXED_CLOCK_WINDOW
    ) as r:
        yield r


async def test_private_targets_are_refused_at_creation(server_policy: Running) -> None:
    running = server_policy
    with fake_server() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        for url in (
            f"{receiver.url}/hook",
            f"http://localhost:{port}/hook",  # a name (from /etc/hosts) for loopback
            "http://169.254.169.254/latest/meta-data/",
            f"http://[::1]:{port}/",
            f"http://user:pw@10.0.0.1:{port}/",
        ):
            r = await running.client.post(
                "/v1/alerts/targets",
                json={"kind": "webhook", "url": url},
                headers=running.org.headers,
            )
            assert r.status_code == 422, (url, r.text)
            assert "COSTOBS_ALERT_TARGET_ALLOW" in r.json()["detail"], url
        listed = await running.client.get("/v1/alerts/targets", headers=running.org.headers)
        assert listed.json()["targets"] == []
        assert receiver.requests == []


def _boom(_: Request) -> Reply:
    return 500, {"Content-Type": "text/plain"}, b"root:x:0:0 internal-only body"


async def test_test_alert_reports_status_not_body_and_read_keys_see_no_url_secrets(
    running: Running,
) -> None:
    db = running.stack.services.db  # type: ignore[union-attr]
    admin = running.org.headers
    reader = {"Authorization": f"Bearer {db.create_key(running.org.id, 'r', ('read',)).secret}"}
    with fake_server(_boom) as receiver:  # loopback: allowed in embedded mode by default
        host = receiver.url.removeprefix("http://")
        url = f"http://alice:pw-secret@{host}/hook/tok-path?token=tok-query"
        r = await running.client.post(
            "/v1/alerts/targets", json={"kind": "webhook", "url": url}, headers=admin
        )
        assert r.status_code == 201, r.text
        target = r.json()
        rule = await running.client.post(
            "/v1/alerts/rules",
            json={
                "name": "cap",
                "kind": "daily_threshold",
                "config": {"threshold_usd": "1"},
                "target_ids": [target["id"]],
            },
            headers=admin,
        )
        rule_id = rule.json()["id"]
        tested = await running.client.post(f"/v1/alerts/rules/{rule_id}/test", headers=admin)
        assert tested.status_code == 200, tested.text
        assert tested.json() == {
            "ok": False,
            "results": [
                {
                    "target_id": target["id"],
                    "ok": False,
                    "attempts": 1,
                    "status_code": 500,
                    "error": "HTTP 500",
                }
            ],
        }
        assert len(receiver.requests) == 1
    log = await running.client.get("/v1/alerts/deliveries", headers=reader)
    assert "internal-only" not in log.text and log.json()["deliveries"][0]["error"] == "HTTP 500"

    as_reader = (await running.client.get("/v1/alerts/targets", headers=reader)).json()
    assert [t["url"] for t in as_reader["targets"]] == [f"http://{host}/…"]
    as_admin = (await running.client.get("/v1/alerts/targets", headers=admin)).json()
    assert [t["url"] for t in as_admin["targets"]] == [url]
