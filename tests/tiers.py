"""Test tiers, decided for every test at collection (new tests included, with nothing to add):

- a test that uses a service fixture gets that service's marker (``nats``, ``chdb``,
  ``postgres``, ``chromium``; ``slow`` for whole processes), and every such test ``service``;
- every other test is ``pure`` and runs in ``make test-fast`` (``-m "not service"``), with no
  service running. A guard holds it to that: a pure test that starts nats-server, chDB or a
  ClickHouse client, PostgreSQL, Chromium or a ``costobs``/``streamlit`` process fails, naming
  what it started and how to mark it. So a test that reaches a service in its own way (not
  through the fixtures) is found the first time it runs, not after it slowed the fast tier.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

SERVICE_FIXTURES: dict[str, tuple[str, ...]] = {
    "nats_server": ("nats",),
    "store": ("chdb",),
    "any_store": ("chdb",),
    "running": ("nats", "chdb"),
    "dashboard_env": ("nats", "chdb"),
    "installed": ("slow",),
}
"""Fixture → the services a test using it needs (tests/conftest.py defines them)."""

SERVICE_MARKERS = ("nats", "chdb", "postgres", "clickhouse_server", "chromium", "slow")
FORBIDDEN_PROGRAMS = {
    "nats-server": "nats",
    "chromium": "chromium",
    "chrome": "chromium",
    "node": "chromium",  # Playwright's driver
    "postgres": "postgres",
    "pg_ctl": "postgres",
    "initdb": "postgres",
    "costobs": "slow",
    "streamlit": "slow",
    "helm": "slow",
}

MARKERS = [
    "nats: needs a nats-server (the nats_server fixture or its own)",
    "chdb: needs the chDB engine (the store fixture)",
    "chromium: drives Debian's chromium through Playwright",
    "service: needs any service (set from the markers above); not in make test-fast",
    "pure: needs no service; make test-fast runs these",
]


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def tier_markers(item: pytest.Item) -> set[str]:
    """The service markers of ``item``: its own, and those of the fixtures it uses."""
    found = {m.name for m in item.iter_markers() if m.name in SERVICE_MARKERS}
    for name in getattr(item, "fixturenames", ()):
        found.update(SERVICE_FIXTURES.get(name, ()))
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        services = tier_markers(item)
        for name in sorted(services):
            item.add_marker(name)
        item.add_marker("service" if services else "pure")


def _program(args: Any) -> str:
    first = args if isinstance(args, str | bytes | os.PathLike) else next(iter(args), "")
    text = os.fsdecode(first)
    return os.path.basename(text.split()[0] if isinstance(args, str) else text)


def _refuse(what: str, marker: str) -> None:
    pytest.fail(
        f"a fast-tier (pure) test started {what}: use the fixture that provides it "
        f"(tests/conftest.py) or mark the test @pytest.mark.{marker}",
        pytrace=False,
    )


@pytest.fixture(autouse=True)
def _fast_tier_guard(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if request.node.get_closest_marker("pure") is None:
        yield
        return
    original_popen = subprocess.Popen.__init__

    def popen(self: subprocess.Popen[Any], args: Any, *a: Any, **kw: Any) -> None:
        program = _program(args)
        marker = FORBIDDEN_PROGRAMS.get(program)
        if marker is None and "streamlit" in (args if isinstance(args, list) else []):
            marker = "slow"
        if marker is not None:
            _refuse(f"the process {program!r}", marker)
        original_popen(self, args, *a, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)

    import clickhouse_connect

    def clickhouse(*_a: Any, **kw: Any) -> Any:
        _refuse(
            "a ClickHouse client" + (" on chDB" if kw.get("interface") == "chdb" else ""), "chdb"
        )

    monkeypatch.setattr(clickhouse_connect, "get_client", clickhouse)
    monkeypatch.setattr(clickhouse_connect, "get_async_client", clickhouse)

    import psycopg

    def postgres(*_a: Any, **_kw: Any) -> Any:
        _refuse("a PostgreSQL connection", "postgres")

    monkeypatch.setattr(psycopg, "connect", postgres)
    monkeypatch.setattr(psycopg.Connection, "connect", postgres)
    yield
