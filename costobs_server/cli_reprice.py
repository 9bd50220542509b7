"""``costobs reprice``: stored events priced again with the current price table and the org's
overrides (costobs_server/repricing).

While CostObs runs (something answers ``/healthz`` on ``--url`` or ``--port``), the running
process does the work, since it owns the event store (chDB allows one process per data dir):
the command posts to ``/v1/reprice`` with an admin key and prints the progress it streams.
Otherwise the command opens the data dir (or ``COSTOBS_CLICKHOUSE_URL``) and the metadata DB
itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from costobs_server.api_client import add_client_args
from costobs_server.errors import CostObsError
from costobs_server.vocabulary import DEV_KEY


def _print_progress(p: dict[str, Any]) -> None:
    print(
        f"[{p['n']}/{p['of']}] {p['org_id']} {p['day']}: {p['events']} events, "
        f"{p['changed']} changed, {p['old_cost_usd']} → {p['new_cost_usd']} USD",
        file=sys.stderr,
        flush=True,
    )


def _print_summary(s: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(s))
        return
    head = "dry run, nothing changed" if s["dry_run"] else f"job {s['job_id']} applied"
    print(f"{head}; price table {s['pricing_version']}")
    if s["recovered_days"]:
        print(f"completed {s['recovered_days']} day(s) an interrupted job had left")
    if s["pending_days"]:
        print(f"{s['pending_days']} day(s) of an interrupted job wait for the next apply")
    rows = [
        (m["provider"], m["model"], m["events"], m["changed"], m["old_cost_usd"], m["new_cost_usd"])
        for m in s["models"]
    ]
    t = s["total"]
    rows.append(("total", "", t["events"], t["changed"], t["old_cost_usd"], t["new_cost_usd"]))
    header = ("provider", "model", "events", "changed", "old cost USD", "new cost USD")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    print(f"{s['days']} org-day(s) checked, {s['days_changed']} with changes")


def _url(args: argparse.Namespace) -> str:
    from costobs_server.settings import load_settings

    if args.url:
        return str(args.url).rstrip("/")
    settings = load_settings(data_dir=args.data_dir, port=args.port)
    return f"http://{settings.host}:{settings.port}"


def _running(url: str) -> bool:
    import httpx

    try:
        httpx.get(f"{url}/healthz", timeout=2)
    except httpx.HTTPError:
        return False
    return True


def _remote(args: argparse.Namespace, url: str) -> dict[str, Any]:
    import httpx

    key = args.api_key or os.environ.get("COSTOBS_API_KEY") or DEV_KEY
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(30, read=None)) as c:
        if args.org:
            own = c.get("/v1/org")
            if own.status_code != 200:
                raise CostObsError(f"{url}/v1/org: HTTP {own.status_code}: {own.text}")
            if own.json()["id"] != args.org:
                raise CostObsError(
                    f"the API key belongs to org {own.json()['id']!r}, not {args.org!r}: "
                    "use an admin key of that org"
                )
        body = {
            "from": args.from_.isoformat(),
            "to": args.to.isoformat(),
            "provider": args.provider or "",
            "model": args.model or "",
            "dry_run": args.dry_run,
        }
        with c.stream("POST", "/v1/reprice", json=body) as response:
            if response.status_code != 200:
                response.read()
                raise CostObsError(
                    f"re-pricing refused: HTTP {response.status_code}: {response.text}"
                )
            for line in response.iter_lines():
                if not line:
                    continue
                message = json.loads(line)
                if "progress" in message and not args.quiet:
                    _print_progress(message["progress"])
                elif "summary" in message:
                    return dict(message["summary"])
                elif "error" in message:
                    raise CostObsError(message["error"])
    raise CostObsError("the running CostObs ended the stream without a summary")


def _local(args: argparse.Namespace) -> dict[str, Any]:
    import getpass
    import math

    from consumers.pricer import Pricer
    from costobs_server.cli import _settings
    from costobs_server.repricing import Request, reprice
    from costobs_server.serve import open_metadata, open_store

    settings = _settings(args)
    db = open_metadata(settings)
    store = open_store(settings)
    try:
        summary = reprice(
            store,
            Pricer(overrides=db.price_overrides, refresh_seconds=math.inf),
            Request(
                args.from_,
                args.to,
                org=args.org,
                provider=args.provider or "",
                model=args.model or "",
                dry_run=args.dry_run,
                actor=f"cli {getpass.getuser()}",
            ),
            None if args.quiet else _print_progress,
        )
    finally:
        store.close()
    return summary.to_dict()


def _reprice(args: argparse.Namespace) -> int:
    if args.from_ > args.to:
        raise CostObsError(f"--from {args.from_} is after --to {args.to}")
    url = _url(args)
    summary = _remote(args, url) if _running(url) else _local(args)
    _print_summary(summary, args.json)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "reprice",
        help="price stored events again with the current price table and the org's overrides",
    )
    p.add_argument(
        "--from",
        dest="from_",
        type=date.fromisoformat,
        required=True,
        help="first UTC day (YYYY-MM-DD)",
    )
    p.add_argument("--to", type=date.fromisoformat, required=True, help="last UTC day, inclusive")
    p.add_argument(
        "--org", help="only this org (default: every org; while CostObs runs: the API key's org)"
    )
    p.add_argument("--provider", help="only events stored under this provider")
    p.add_argument("--model", help="only events of this model (as sent)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="show old and new totals per provider and model; change nothing",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--data-dir", type=Path, help="data directory (COSTOBS_DATA_DIR)")
    p.add_argument("--port", type=int, help="port of a running CostObs (COSTOBS_PORT)")
    add_client_args(p)  # --url, --api-key (an admin key of the org, for a running CostObs)
    p.set_defaults(func=_reprice)
