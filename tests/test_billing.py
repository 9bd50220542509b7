"""billsyncd against fake provider admin APIs on loopback (documented formats, pagination,
cents, 401/429/5xx, one provider failing alone), then the billed rows checked exactly in
ClickHouse; ``costobs billing import``; and the proof that without keys nothing connects out."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.providers import ProviderError, Retry, anthropic_days, openai_days
from billing.sync import BillSync
from costobs_server.cli import main as cli
from costobs_server.serve import Stack
from tests.fake_http import FakeServer, Reply, Request, fake_server, json_reply
from tests.helpers import Running, eventually

TODAY = date(2026, 11, 20)
DAY = 86400
NOV_18 = int(datetime(2026, 11, 18, tzinfo=UTC).timestamp())


def openai_api(pages: dict[str, str]) -> Callable[[Request], Reply]:
    """Answers GET /v1/organization/costs with raw JSON pages (numbers kept as written)."""

    def handle(request: Request) -> Reply:
        if request.headers.get("authorization") != "Bearer sk-admin-test":
            return json_reply(401, {"error": {"message": "Invalid admin key"}})
        assert request.path == "/v1/organization/costs"
        assert request.query["bucket_width"] == ["1d"]
        assert request.query["start_time"] == [str(NOV_18)]
        assert request.query["end_time"] == [str(NOV_18 + 3 * DAY)]
        page = request.query.get("page", [""])[0]
        return 200, {"Content-Type": "application/json"}, pages[page].encode()

    return handle


OPENAI_PAGES = {
    "": (
        '{"object":"page","data":['
        f'{{"object":"bucket","start_time":{NOV_18},"end_time":{NOV_18 + DAY},"results":['
        '{"object":"organization.costs.result","amount":{"value":1.23,"currency":"usd"},'
        '"line_item":"gpt-4o, input","project_id":"p1"},'
        '{"amount":{"value":"0.0100000001","currency":"usd"},"line_item":null}]},'
        f'{{"start_time":{NOV_18 + DAY},"end_time":{NOV_18 + 2 * DAY},"results":['
        '{"amount":{"value":3,"currency":"usd"}},{"amount":{"value":0.1,"currency":"usd"}},'
        '{"amount":{"value":0.2,"currency":"usd"}}]}'
        '],"has_more":true,"next_page":"page_2"}'
    ),
    "page_2": (
        f'{{"data":[{{"start_time":{NOV_18 + 2 * DAY},"end_time":{NOV_18 + 3 * DAY},'
        '"results":[]}],"has_more":false,"next_page":null}'
    ),
}
OPENAI_EXPECTED = {
    "2026-11-18": Decimal("1.2400000001"),
    "2026-11-19": Decimal("3.3"),  # 3 + 0.1 + 0.2, not 3.3000000000000003
    "2026-11-20": Decimal("0"),
}


def anthropic_api(request: Request) -> Reply:
    if request.headers.get("x-api-key") != "sk-ant-admin-test":
        return json_reply(401, {"type": "error", "error": {"type": "authentication_error"}})
    assert request.headers.get("anthropic-version") == "2023-06-01"
    assert request.path == "/v1/organizations/cost_report"
    assert request.query["starting_at"] == ["2026-11-18T00:00:00Z"]
    assert request.query["ending_at"] == ["2026-11-21T00:00:00Z"]
    if request.query.get("page") == ["next_abc"]:
        return json_reply(
            200,
            {
                "data": [
                    {
                        "starting_at": "2026-11-19T00:00:00Z",
                        "ending_at": "2026-11-20T00:00:00Z",
                        "results": [{"amount": "100", "currency": "USD", "cost_type": "tokens"}],
                    },
                    {
                        "starting_at": "2026-11-20T00:00:00Z",
                        "ending_at": "2026-11-21T00:00:00Z",
                        "results": [{"amount": "7.1", "currency": "USD", "model": "claude"}],
                    },
                ],
                "has_more": False,
                "next_page": None,
            },
        )
    return json_reply(
        200,
        {
            "data": [
                {
                    "starting_at": "2026-11-18T00:00:00Z",
                    "ending_at": "2026-11-19T00:00:00Z",
                    "results": [
                        {"amount": "123.45", "currency": "USD", "cost_type": "tokens"},
                        {"amount": "0.005", "currency": "USD", "cost_type": "web_search"},
                    ],
                }
            ],
            "has_more": True,
            "next_page": "next_abc",
        },
    )


ANTHROPIC_EXPECTED = {
    "2026-11-18": Decimal("1.23455"),  # 123.45 + 0.005 cents
    "2026-11-19": Decimal("1"),
    "2026-11-20": Decimal("0.071"),
}


def bill_sync(
    running: Running, openai: FakeServer | None, anthropic: FakeServer | None
) -> BillSync:
    update: dict[str, Any] = {"billing_org": running.org.id, "billing_lookback_days": 3}
    if openai is not None:
        update |= {
            "billing_openai_admin_key": "sk-admin-test",
            "billing_openai_base_url": openai.url,
        }
    if anthropic is not None:
        update |= {
            "billing_anthropic_admin_key": "sk-ant-admin-test",
            "billing_anthropic_base_url": anthropic.url + "/",
        }
    settings = running.stack.settings.model_validate(running.stack.settings.model_dump() | update)
    return BillSync(
        settings,
        running.stack.services.nc,  # type: ignore[union-attr]
        retry=Retry(attempts=3, base_delay_s=0.01),
        today=lambda: TODAY,
    )


def billed(running: Running) -> dict[tuple[str, str, str], Decimal]:
    assert running.stack.services is not None
    rows = running.stack.services.store.query(
        "SELECT provider, toString(date), source, sum(billed_usd) FROM billed_daily FINAL "
        "WHERE org_id = {org:String} GROUP BY provider, date, source "
        "ORDER BY provider, date, source",
        {"org": running.org.id},
    )
    return {(p, d, s): Decimal(v) for p, d, s, v in rows}


async def until_billed(running: Running, expected: dict[tuple[str, str, str], Decimal]) -> None:
    async def arrived() -> bool:
        return billed(running) == expected

    try:
        await eventually(arrived, within=10)
    except AssertionError:
        assert billed(running) == expected  # show the difference


def api_rows(provider: str, days: dict[str, Decimal]) -> dict[tuple[str, str, str], Decimal]:
    return {(provider, d, "api"): v for d, v in days.items()}


async def test_sync_pages_converts_exactly_and_resyncs_idempotently(running: Running) -> None:
    pages = dict(OPENAI_PAGES)
    with fake_server(openai_api(pages)) as openai, fake_server(anthropic_api) as anthropic:
        sync = bill_sync(running, openai, anthropic)
        status = await sync.sync_once()
        assert {name: s.ok for name, s in status.items()} == {"openai": True, "anthropic": True}
        assert len(openai.requests) == 2 and len(anthropic.requests) == 2  # two pages each
        expected = api_rows("openai", OPENAI_EXPECTED) | api_rows("anthropic", ANTHROPIC_EXPECTED)
        await until_billed(running, expected)

        await sync.sync_once()  # the same days again: same rows, nothing added
        await asyncio.sleep(0.5)
        assert billed(running) == expected

        # the provider revised a day: the re-sync replaces that row
        pages["page_2"] = pages["page_2"].replace(
            '"results":[]', '"results":[{"amount":{"value":"5.5","currency":"usd"}}]'
        )
        await sync.sync_once()
        expected[("openai", "2026-11-20", "api")] = Decimal("5.5")
        await until_billed(running, expected)


async def test_one_provider_failing_does_not_block_the_other(running: Running) -> None:
    calls = {"n": 0}

    def anthropic_flaky(request: Request) -> Reply:
        calls["n"] += 1
        if calls["n"] == 1:
            return json_reply(429, {"error": "rate limited"}, {"Retry-After": "0"})
        if calls["n"] == 2:
            return json_reply(529, {"error": "overloaded"})
        return anthropic_api(request)

    with (
        fake_server(openai_api(OPENAI_PAGES)) as openai,
        fake_server(lambda _: json_reply(401, {"error": "bad key"})) as refusing,
        fake_server(lambda _: json_reply(503, {"error": "down"})) as down,
        fake_server(anthropic_flaky) as flaky,
    ):
        sync = bill_sync(running, openai, refusing)
        status = await sync.sync_once()
        assert status["openai"].ok is True
        assert status["anthropic"].ok is False and "401" in status["anthropic"].error
        assert len(refusing.requests) == 1  # a refused key is not retried
        await until_billed(running, api_rows("openai", OPENAI_EXPECTED))

        sync = bill_sync(running, None, down)
        status = await sync.sync_once()
        assert status["anthropic"].ok is False and "503" in status["anthropic"].error
        assert len(down.requests) == 3  # retried, then given up until the next run

        sync = bill_sync(running, None, flaky)  # 429, then 529, then the answer
        status = await sync.sync_once()
        assert status["anthropic"].ok is True, status["anthropic"].error
        expected = api_rows("openai", OPENAI_EXPECTED) | api_rows("anthropic", ANTHROPIC_EXPECTED)
        await until_billed(running, expected)
        assert sync.health()["providers"]["anthropic"]["ok"] is True


def test_amount_parsing_is_exact() -> None:
    from billing.providers import decode

    buckets = decode(
        f'[{{"start_time":{NOV_18},"results":[{{"amount":{{"value":0.1}}}},'
        '{"amount":{"value":"0.2"}},{"amount":{"value":1e-7,"currency":"USD"}}]}]'
    )
    assert openai_days(buckets) == {date(2026, 11, 18): Decimal("0.3000001")}
    cents = anthropic_days(
        [{"starting_at": "2026-11-18T00:00:00Z", "results": [{"amount": "0.0001"}]}]
    )
    assert cents == {date(2026, 11, 18): Decimal("0.000001")}
    with pytest.raises(ProviderError, match="eur") as info:
        openai_days(
            [{"start_time": NOV_18, "results": [{"amount": {"value": 1, "currency": "eur"}}]}]
        )
    assert info.value.retryable is False  # a bill in another currency is not retried


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Records every socket connect and name lookup from the moment it is requested."""
    made: list[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        made.append(("connect", address))
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        made.append(("connect_ex", address))
        return real_connect_ex(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        made.append(("getaddrinfo", args[:2]))
        return real_getaddrinfo(*args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield made


async def test_without_keys_billsyncd_never_connects_out(
    running: Running, connections: list[Any]
) -> None:
    settings = running.stack.settings.model_copy(
        update={"billsyncd_port": 0, "billing_interval_s": 0.01}
    )
    assert settings.billing_openai_admin_key is None
    assert settings.billing_anthropic_admin_key is None
    stack = Stack(settings, frozenset({"billsyncd"}), nats_auth=running.stack.nats_auth)
    await stack.start()  # connects to NATS on loopback, like every role
    try:
        connections.clear()
        sync: BillSync = stack.workers[0]
        assert sync.providers == []
        await asyncio.sleep(1.0)  # 100 intervals: an enabled sync would have run by now
        assert sync.runs == 0
        assert await sync.sync_once() == {}
        assert connections == []  # no socket connect, not even a DNS lookup
        assert sync.health()["enabled"] is False
    finally:
        await stack.stop()
    # the instrument works: a sync with a key set is seen connecting
    with fake_server(openai_api(OPENAI_PAGES)) as openai:
        await bill_sync(running, openai, None).sync_once()
    assert ("connect", ("127.0.0.1", int(openai.url.rsplit(":", 1)[1]))) in connections


async def test_billing_import_csv_through_the_same_path(running: Running, tmp_path: Path) -> None:
    csv = tmp_path / "bills.csv"
    csv.write_text(
        "provider,date,billed_usd,line_item\n"
        "gemini,2026-11-18,12.34,\n"
        "gemini,2026-11-19,0.000000000000000001,vertex\n"
        "openai,2026-11-20,9.99,\n"
    )
    key = running.org.key
    args = ["billing", "import", str(csv), "--url", running.url, "--api-key", key]
    assert await asyncio.to_thread(cli, args) == 0
    with fake_server(openai_api(OPENAI_PAGES)) as openai:
        await bill_sync(running, openai, None).sync_once()
    expected = api_rows("openai", OPENAI_EXPECTED) | {
        ("gemini", "2026-11-18", "import"): Decimal("12.34"),
        ("gemini", "2026-11-19", "import"): Decimal("0.000000000000000001"),
        # the same provider-day from a sync and an import: both kept, neither overwritten
        ("openai", "2026-11-20", "import"): Decimal("9.99"),
    }
    await until_billed(running, expected)
    assert await asyncio.to_thread(cli, args) == 0  # importing again changes nothing
    await asyncio.sleep(0.5)
    assert billed(running) == expected

    # the docs' SQL insert keeps working
    assert running.stack.services is not None
    running.stack.services.store.client.command(
        "INSERT INTO billed_daily (org_id, provider, date, billed_usd, source) "
        "VALUES ({org:String}, 'gemini', '2026-06-01', 12.34, 'import')",
        parameters={"org": running.org.id},
    )
    assert billed(running)[("gemini", "2026-06-01", "import")] == Decimal("12.34")

    bad = tmp_path / "bad.csv"
    bad.write_text("provider,date,billed_usd\ngemini,2026-11-18,1.5e3\n")
    assert await asyncio.to_thread(cli, ["billing", "import", str(bad), "--url", running.url]) == 2
    missing = tmp_path / "missing.csv"
    missing.write_text("provider,billed_usd\ngemini,1\n")
    assert await asyncio.to_thread(cli, ["billing", "import", str(missing)]) == 2
