"""``costobs`` command line: one role per subcommand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerting.cli import register as register_alerts
from billing.cli import register as register_billing
from costobs_server.cli_currency import register as register_currency
from costobs_server.cli_export import register as register_export
from costobs_server.cli_ops import register as register_ops
from costobs_server.cli_pricing import register as register_pricing
from costobs_server.cli_reprice import register as register_reprice
from costobs_server.errors import CostObsError
from costobs_server.vocabulary import DEV_KEY

# Every role, store and settings import happens inside the command that needs it, so that
# `costobs --help` and the client commands start fast (bench/cli_start.py measures it).
if TYPE_CHECKING:
    from costobs_server.settings import Settings


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    from costobs_server.settings import load_settings

    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        port=getattr(args, "port", None),
        **extra,
    )


def _up(args: argparse.Namespace) -> int:
    import asyncio

    from costobs_server.serve import run

    settings = _settings(args)
    roles = frozenset({"ingest", "writer", "alertd", "billsyncd"})
    asyncio.run(run(settings, roles, with_dashboard=not args.no_dashboard))
    return 0


def _role(role: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        import asyncio

        from costobs_server.serve import run

        settings = _settings(args)
        if settings.mode == "server" and not settings.nats_url:
            raise CostObsError("server mode needs COSTOBS_NATS_URL")
        asyncio.run(run(settings, frozenset({role})))
        return 0

    return handler


def _dashboard(args: argparse.Namespace) -> int:
    """Server mode: the Streamlit dashboard alone, reading through COSTOBS_API_URL."""
    import signal

    from costobs_server.serve import start_dashboard

    process = start_dashboard(_settings(args))
    if process is None:
        raise CostObsError("the dashboard is not built (no dashboard/app.py)")
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()


def _migrate(args: argparse.Namespace) -> int:
    from costobs_server.serve import open_metadata, open_store

    settings = _settings(args)
    open_metadata(settings)
    store = open_store(settings)
    store.close()
    print("metadata DB and event store are up to date")
    return 0


def _compact(args: argparse.Namespace) -> int:
    from costobs_server.serve import open_store
    from costobs_server.store.compaction import compact

    store = open_store(_settings(args))
    try:
        done = compact(store)
    finally:
        store.close()
    print(f"pair rollups: {done.days} days, {done.halves} half-months in {done.seconds:.1f}s")
    return 0


def _verify(args: argparse.Namespace) -> int:
    """Exit 0 when every rollup matches events (or was repaired), 1 when a mismatch remains."""
    from costobs_server.serve import open_store
    from costobs_server.store.verify import verify

    store = open_store(_settings(args))
    try:
        report = verify(store, fix=args.repair, org=args.org)
    finally:
        store.close()
    for m in report.mismatches:
        print(
            f"MISMATCH {m.table} org={m.org_id} {m.unit}: "
            f"stored {_figures(m.stored)}, events say {_figures(m.derived)}"
            + ("  → repaired" if args.repair else "")
        )
    units = sum(report.checked.values())
    print(
        f"checked {len(report.checked)} rollups, {units} org-days: "
        f"{len(report.mismatches)} mismatched, {report.repaired} repaired"
    )
    if report.stale_pair_days:
        print(
            f"pair rollups: {report.stale_pair_days} closed days not compacted yet"
            + (f"; compacted {report.compacted_days}" if args.repair else " (--repair compacts)")
        )
    return 1 if report.mismatches and not args.repair else 0


def _figures(values: tuple[Any, ...]) -> str:
    return (
        "(" + ", ".join(format(v, "f") if isinstance(v, Decimal) else str(v) for v in values) + ")"
    )


def _keys(args: argparse.Namespace) -> int:
    from costobs_server.serve import open_metadata

    db = open_metadata(_settings(args))
    if args.keys_command == "create":
        db.ensure_org(args.org)
        new = db.create_key(args.org, args.name, tuple(args.scope or ["ingest"]))
        print(
            json.dumps(
                {
                    "id": new.info.id,
                    "org_id": args.org,
                    "scopes": list(new.info.scopes),
                    "secret": new.secret,
                }
            )
        )
        print("The secret is shown once; store it now.", file=sys.stderr)
    elif args.keys_command == "list":
        for key in db.list_keys(args.org):
            state = "revoked" if key.revoked_at else "active"
            print(f"{key.id}  {key.prefix}…  {','.join(key.scopes):<18} {state:<8} {key.name}")
    elif args.keys_command == "revoke":
        if not db.revoke_key(args.org, args.id):
            raise CostObsError(f"no key {args.id!r} in org {args.org!r}")
        print(f"revoked {args.id}")
    return 0


def _overrides(args: argparse.Namespace) -> int:
    from costobs.pricing import PricingError

    from costobs_server.serve import open_metadata

    db = open_metadata(_settings(args))
    if args.overrides_command == "add":
        try:
            spec = json.loads(args.spec)
        except json.JSONDecodeError as exc:
            raise CostObsError(f"--spec is not valid JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise CostObsError("--spec must be a JSON object")
        try:
            override_id = db.add_price_override(args.org, spec, args.note)
        except (PricingError, ValueError) as exc:
            raise CostObsError(str(exc)) from None
        print(override_id)
    elif args.overrides_command == "list":
        for override_id, spec, note in db.list_price_overrides(args.org):
            print(f"{override_id}  {json.dumps(spec, sort_keys=True)}  {note}")
    elif not db.remove_price_override(args.org, args.id):
        raise CostObsError(f"no override {args.id!r} in org {args.org!r}")
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from costobs_server.demo import send_demo_data

    settings = _settings(args)
    url = args.url or f"http://{settings.host}:{settings.port}"
    send_demo_data(url, args.api_key, events=args.events, days=args.days, seed=args.seed)
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from costobs_server.backfill import read_lines, send, write_report

    settings = _settings(args)
    url = args.url or f"http://{settings.host}:{settings.port}"
    summary = send(
        url,
        args.api_key,
        read_lines(args.file, args.format),
        batch_size=args.batch_size,
        progress=not args.no_progress,
        params={"backfill": "true"},  # history beyond COSTOBS_MAX_EVENT_AGE_DAYS: admin key
    )
    report = Path(args.report) if args.report else None
    if summary.rejected:
        report = report or Path(
            f"{Path(args.file).name if args.file != '-' else 'stdin'}.rejected.jsonl"
        )
        write_report(report, summary.rejected)
    print(json.dumps(summary.to_dict()))
    if summary.rejected:
        print(f"{len(summary.rejected)} line(s) rejected: see {report}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="costobs", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", type=Path, help="data directory (COSTOBS_DATA_DIR)")
        p.add_argument("--port", type=int, help="ingest + read API port (COSTOBS_PORT)")
        return p

    up = with_common(sub.add_parser("up", help="run everything, embedded (NATS, chDB, SQLite)"))
    up.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    up.set_defaults(func=_up)
    with_common(
        sub.add_parser("ingest", help="server mode: the ingest + read API role")
    ).set_defaults(func=_role("ingest"))
    with_common(sub.add_parser("writer", help="server mode: the ClickHouse writer")).set_defaults(
        func=_role("writer")
    )
    with_common(
        sub.add_parser("alertd", help="server mode: the alert evaluator (health on :8081)")
    ).set_defaults(func=_role("alertd"))
    with_common(
        sub.add_parser("billsyncd", help="server mode: provider billing sync (opt-in, :8082)")
    ).set_defaults(func=_role("billsyncd"))
    with_common(
        sub.add_parser("migrate", help="apply metadata and ClickHouse migrations")
    ).set_defaults(func=_migrate)
    with_common(
        sub.add_parser(
            "compact", help="fill the pair rollups for closed UTC days now (the writer does it)"
        )
    ).set_defaults(func=_compact)
    verify = with_common(
        sub.add_parser(
            "verify", help="check every rollup against events per day; --repair re-derives"
        )
    )
    verify.add_argument("--repair", action="store_true", help="re-derive mismatched days")
    verify.add_argument("--org", help="only this org")
    verify.set_defaults(func=_verify)
    with_common(
        sub.add_parser("dashboard", help="server mode: the Streamlit dashboard (COSTOBS_API_URL)")
    ).set_defaults(func=_dashboard)

    keys = with_common(sub.add_parser("keys", help="manage API keys"))
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints its secret once")
    create.add_argument("--org", default="default")
    create.add_argument("--name", default="api key")
    create.add_argument("--scope", action="append", choices=["ingest", "read", "admin"])
    listing = keys_sub.add_parser("list")
    listing.add_argument("--org", default="default")
    revoke = keys_sub.add_parser("revoke")
    revoke.add_argument("--org", default="default")
    revoke.add_argument("id")
    keys.set_defaults(func=_keys)

    overrides = with_common(
        sub.add_parser("overrides", help="per-org price overrides (discounts, custom models)")
    )
    overrides_sub = overrides.add_subparsers(dest="overrides_command", required=True)
    add = overrides_sub.add_parser(
        "add", help='e.g. --spec \'{"kind": "discount", "multiplier": "0.8"}\''
    )
    add.add_argument("--org", default="default")
    add.add_argument("--spec", required=True, help="one override as JSON (pricing/README.md)")
    add.add_argument("--note", default="")
    overrides_sub.add_parser("list").add_argument("--org", default="default")
    remove = overrides_sub.add_parser("remove")
    remove.add_argument("--org", default="default")
    remove.add_argument("id")
    overrides.set_defaults(func=_overrides)

    demo = with_common(sub.add_parser("demo-data", help="send synthetic events through ingest"))
    demo.add_argument("--events", type=int, default=30000)
    demo.add_argument("--days", type=int, default=45)
    demo.add_argument("--url", help="ingest URL (default: http://COSTOBS_HOST:COSTOBS_PORT)")
    demo.add_argument("--api-key", default="costobs_dev_secret_key")
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=_demo_data)

    backfill = with_common(
        sub.add_parser(
            "backfill",
            help="load history (JSON Lines or CSV of wire events, gzip ok) through ingest",
        )
    )
    backfill.add_argument("file", help="the file, or - for standard input")
    backfill.add_argument(
        "--format",
        choices=["auto", "jsonl", "csv", "litellm", "langfuse"],
        default="auto",
        help="wire events (jsonl, csv) or another tool's export: litellm (proxy spend logs), "
        "langfuse (generations / observations)",
    )
    backfill.add_argument("--url", help="ingest URL (default: http://COSTOBS_HOST:COSTOBS_PORT)")
    backfill.add_argument(
        "--api-key",
        default=DEV_KEY,
        help="an admin key: history is sent with ?backfill=true (default: the dev key)",
    )
    backfill.add_argument("--batch-size", type=int, default=500, help="events per request")
    backfill.add_argument(
        "--report", help="where rejected lines are listed (default: FILE.rejected.jsonl)"
    )
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar")
    backfill.set_defaults(func=_backfill)

    register_pricing(sub)
    register_alerts(sub)
    register_billing(sub)
    register_export(sub)
    register_ops(sub)
    register_reprice(sub)
    register_currency(sub, with_common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("alembic", "httpx"):  # one line per migration step / per request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except CostObsError as exc:
        print(f"costobs: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
