"""``costobs billing import FILE.csv``: daily bills of air-gapped or unsupported providers.

The CSV has a header with the columns ``provider,date,billed_usd`` and optionally
``line_item``. The rows go to ``POST /v1/billing/import`` (admin key), so they travel through
JetStream to ``billed_daily`` exactly like synced bills, with ``source`` ``import`` (a sync's
``api`` rows and imported rows of the same provider-day never overwrite each other).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from costobs_server.api_client import add_client_args, call, client
from costobs_server.errors import CostObsError

REQUIRED = ("provider", "date", "billed_usd")
CHUNK = 5000


def read_csv(path: Path, source: str) -> list[dict[str, Any]]:
    """Validated rows (amounts kept as the exact decimal text of the file)."""
    from pydantic import ValidationError  # the wire schema is imported only to import bills

    from costobs_server.wire import BILLS_ADAPTER, describe

    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise CostObsError(f"{path}: missing column(s) {missing}; need {list(REQUIRED)}")
        unknown = set(columns) - {*REQUIRED, "line_item"}
        if unknown:
            raise CostObsError(f"{path}: unknown column(s) {sorted(unknown)}")
        rows = []
        for line, raw in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            if not any(row.values()):
                continue
            bill: dict[str, Any] = {
                "provider": row["provider"],
                "date": row["date"],
                "billed_usd": row["billed_usd"],
                "source": source,
            }
            if row.get("line_item"):
                bill["line_item"] = row["line_item"]
            try:
                BILLS_ADAPTER.validate_python({"bills": [bill]})
            except ValidationError as exc:
                raise CostObsError(f"{path} line {line}: {describe(exc)}") from None
            rows.append(bill)
    if not rows:
        raise CostObsError(f"{path}: no bills in the file")
    return rows


def _billing(args: argparse.Namespace) -> int:
    rows = read_csv(Path(args.file), args.source)
    accepted = duplicates = 0
    with client(args) as c:
        for start in range(0, len(rows), CHUNK):
            result = call(c, "POST", "/v1/billing/import", {"bills": rows[start : start + CHUNK]})
            accepted += result["accepted"]
            duplicates += result["duplicates"]
    print(f"imported {accepted} bill rows ({duplicates} already imported) from {args.file}")
    return 0


def register(sub: Any) -> None:
    billing = sub.add_parser("billing", help="provider bills")
    cmds = billing.add_subparsers(dest="billing_command", required=True)
    imp = cmds.add_parser("import", help="import daily bills from a CSV file")
    imp.add_argument("file", help="CSV with columns provider,date,billed_usd[,line_item]")
    imp.add_argument("--source", default="import", help="source label (default: import)")
    add_client_args(imp)
    imp.set_defaults(func=_billing)
