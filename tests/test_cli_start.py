"""`costobs --help` and the client commands start without the server's heavy imports
(bench/cli_start.py times them; this pins which modules the parser alone pulls in)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "nats",
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
    "costobs._api",
    "costobs.pricing",
)

PROBE = """
import sys
from costobs_server.cli import build_parser
build_parser()
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def test_building_the_cli_parser_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert out == "", f"imported at CLI start: {out}"
