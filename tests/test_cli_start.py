"""`costobs --help` and the client commands start without the server's heavy imports
(bench/cli_start.py times them; this pins which modules the parser alone pulls in)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "nats",
    "faststream",
    "sqlalchemy",
    "alembic",
    "clickhouse_connect",
    "chdb",
    "httpx",
    "pydantic",
    "fastapi",
    "uvicorn",
    "streamlit",
    "yaml",
    "jsonschema",
    "asyncio",
    "costobs._api",
    "costobs.pricing",
    "consumers.pricer",
    "costobs_server.settings",
    "costobs_server.serve",
    "costobs_server.ops",
    "costobs_server.replay",
    "costobs_server.dead_letters",
    "costobs_server.repricing",
    "costobs_server.currency",
    "costobs_server.metadata",
    "costobs_server.pricing_check",
)
"""Libraries and command modules that only the command using them may import."""

PROBE = """
import contextlib, io, sys
from costobs_server.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main({argv!r})
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def heavy_after(argv: list[str]) -> str:
    """The HEAVY modules loaded once `costobs ARGV` has run (``--help`` exits in the parser)."""
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_costobs_help_imports_nothing_heavy() -> None:
    assert heavy_after(["--help"]) == "", "imported at CLI start"


@pytest.mark.parametrize("command", ["replay", "dlq", "reprice", "currency", "alerts", "pricing"])
def test_a_commands_help_imports_nothing_heavy(command: str) -> None:
    """The newer commands too: their modules load only when the command runs."""
    assert heavy_after([command, "--help"]) == "", f"imported by `costobs {command} --help`"


def test_the_probe_sees_what_a_running_command_imports() -> None:
    """The checks above can fail: running `pricing explain` does load the pricing table."""
    out = heavy_after(["pricing", "explain", "--provider", "openai", "--model", "gpt-4o"])
    assert "costobs.pricing" in out.split(",")
