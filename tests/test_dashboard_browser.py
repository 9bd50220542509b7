"""The dashboard in a real browser: ``costobs up`` (subprocess, loopback, free ports, temp data
dir) with demo data, Debian's chromium through Playwright, Overview and ``/breakdown?tag=pr``.
Screenshots land in the test's tmp folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from costobs_server.demo import send_demo_data
from costobs_server.metadata.db import DEV_KEY
from costobs_server.nats_server import free_port
from dashboard import ui

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_EVENTS = 4000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (.ci/run installs it)"
    ),
]


def _wait(check: object, what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} not ready within {within}s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data = tmp_path_factory.mktemp("costobs-up")
    api_port, dash_port = free_port(), free_port()
    env = {
        **os.environ,
        "COSTOBS_DATA_DIR": str(data),
        "COSTOBS_HOST": "127.0.0.1",
        "COSTOBS_PORT": str(api_port),
        "COSTOBS_DASHBOARD_PORT": str(dash_port),
        "COSTOBS_ALERTD_PORT": "0",
        "COSTOBS_BILLSYNCD_PORT": "0",
    }
    log = (data / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "costobs_server.cli", "up"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api, dash = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dash_port}"
    try:
        _wait(lambda: httpx.get(f"{api}/healthz").status_code == 200, "read API")
        send_demo_data(api, DEV_KEY, events=DEMO_EVENTS, days=45, seed=11)
        headers = {"Authorization": f"Bearer {DEV_KEY}"}

        def stored() -> bool:
            r = httpx.get(
                f"{api}/v1/usage/summary",
                params={"from": "2000-01-01", "to": "2099-12-31"},  # the supported range
                headers=headers,
            )
            return int(r.json()["requests"]) >= DEMO_EVENTS

        _wait(stored, "demo events")
        _show_in_euros(api, headers)
        _wait(lambda: httpx.get(f"{dash}/_stcore/health").status_code == 200, "dashboard")
        yield api, dash
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _show_in_euros(api: str, headers: dict[str, str]) -> None:
    """EUR as the display currency, with two dated rates inside the default 30-day range."""
    today = date.fromisoformat(httpx.get(f"{api}/v1/org", headers=headers).json()["today"])
    rates = f"date,currency,rate\n{today - timedelta(days=40)},EUR,0.9\n" + (
        f"{today - timedelta(days=10)},EUR,0.95\n"
    )
    for method, path, kw in (
        ("PUT", "/v1/currency", {"json": {"display_currency": "EUR"}}),
        ("POST", "/v1/currency/rates", {"content": rates,
                                        "headers": {**headers, "Content-Type": "text/csv"}}),
    ):  # fmt: skip
        r = httpx.request(method, f"{api}{path}", **{"headers": headers, **kw})  # type: ignore[arg-type]
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_overview_and_tag_breakdown_render_with_figures(
    stack: tuple[str, str], browser: object, tmp_path: Path
) -> None:
    api, dash = stack
    headers = {"Authorization": f"Bearer {DEV_KEY}"}
    today = date.fromisoformat(httpx.get(f"{api}/v1/org", headers=headers).json()["today"])
    rng = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    summary = httpx.get(f"{api}/v1/summary", params=rng, headers=headers).json()["totals"]
    page = browser.new_page(viewport={"width": 1440, "height": 1600})  # type: ignore[attr-defined]

    page.goto(dash)  # the main page is Overview once the org has events
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
    page.wait_for_selector(
        '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg',
        timeout=60_000,
    )
    page.wait_for_timeout(1500)  # let the charts finish drawing
    text = page.inner_text("body")
    assert "Overview" in text
    assert ui.money(summary["cost_usd"]) in text
    assert f"{summary['requests']:,}" in text
    assert len(page.query_selector_all('[data-testid="stVegaLiteChart"]')) >= 2
    # the display currency beside USD: converted day by day, the rates and their dates shown
    shown = httpx.get(f"{api}/v1/summary", params=rng, headers=headers).json()["display"]
    assert f"Spend in EUR: {ui.in_currency(shown['cost'], 'EUR')}" in text
    assert f"0.95 EUR/USD of {today - timedelta(days=10)}" in text
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    tagged = httpx.get(
        f"{api}/v1/breakdown", params={**rng, "by": "tag:pr"}, headers=headers
    ).json()
    page.goto(f"{dash}/breakdown?tag=pr")
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=60_000)
    page.wait_for_selector(
        '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg',
        timeout=60_000,
    )
    page.wait_for_timeout(1500)
    text = page.inner_text("body")
    assert "Breakdown" in text and "tag · pr" in text
    assert ui.money(tagged["totals"]["cost_usd"]) in text
    assert "tag=pr" in page.url
    page.screenshot(path=str(tmp_path / "breakdown-tag-pr.png"), full_page=True)
    page.close()
    print(f"screenshots in {tmp_path}")
