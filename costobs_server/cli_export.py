"""``costobs export focus``: the FOCUS 1.2 dataset of the org's spend, from a running CostObs.

It streams ``GET /v1/export/focus`` (``--url``, an API key with the ``read`` scope) to a file
or stdout, so it works in embedded mode while ``costobs up`` holds the data dir, and in server
mode alike; memory stays flat whatever the range.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

from costobs_server.api_client import add_client_args, client
from costobs_server.errors import CostObsError


def _export_focus(args: argparse.Namespace) -> int:
    import httpx  # here, not at the top: `costobs --help` stays light (tests/test_cli_start.py)

    params = {"from": args.from_.isoformat(), "to": args.to.isoformat(), "format": args.format}
    with client(args) as c:
        c.timeout = httpx.Timeout(30, read=None)  # a long range streams for a while
        try:
            with c.stream("GET", "/v1/export/focus", params=params) as response:
                if response.status_code != 200:
                    response.read()
                    raise CostObsError(
                        f"export failed: HTTP {response.status_code}: {response.text}"
                    )
                out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
                try:
                    for block in response.iter_bytes():
                        out.write(block)
                finally:
                    if args.output:
                        out.close()
        except httpx.HTTPError as exc:
            raise CostObsError(f"cannot reach CostObs at {c.base_url}: {exc}") from None
    return 0


def register(sub: Any) -> None:
    export = sub.add_parser("export", help="export spend in open formats")
    kinds = export.add_subparsers(dest="export_command", required=True)
    focus = kinds.add_parser(
        "focus", help="FinOps FOCUS 1.2 dataset: one row per day × provider × model × usage type"
    )
    focus.add_argument(
        "--from", dest="from_", type=date.fromisoformat, required=True, help="first day"
    )
    focus.add_argument("--to", type=date.fromisoformat, required=True, help="last day, inclusive")
    focus.add_argument("--format", choices=("csv", "parquet"), default="csv")
    focus.add_argument("--output", "-o", help="file to write (default: stdout)")
    add_client_args(focus)
    focus.set_defaults(func=_export_focus)
