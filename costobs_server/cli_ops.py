"""``costobs replay`` and ``costobs dlq``: ask the running process, or open the data dir.

Where each runs is decided by costobs_server/ops.py; the same summary comes out either way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costobs_server.errors import CostObsError

if TYPE_CHECKING:
    from costobs_server.ops import Control, OpsContext
    from costobs_server.replay import ReplayProgress, ReplaySpec
    from costobs_server.settings import Settings

POLL_S = 0.3


def _settings(args: argparse.Namespace) -> Settings:
    from costobs_server.settings import load_settings

    return load_settings(data_dir=args.data_dir, port=args.port)


def _control(args: argparse.Namespace, settings: Settings) -> Control | None:
    from costobs_server.ops import running_control

    return running_control(settings, args.port)


def _call(control: Control, method: str, path: str, body: Any = None) -> Any:
    import httpx

    try:
        r = httpx.request(
            method, f"{control.url}{path}", json=body, headers=control.headers, timeout=60
        )
    except httpx.HTTPError as exc:
        raise CostObsError(
            f"the running CostObs process does not answer at {control.url} ({exc}); "
            "is --port right?"
        ) from None
    if r.status_code >= 400:
        detail = r.json().get("detail") if "json" in r.headers.get("content-type", "") else r.text
        raise CostObsError(f"{detail} (HTTP {r.status_code})")
    return r.json()


# -- replay ------------------------------------------------------------------------------------


def _spec(args: argparse.Namespace) -> ReplaySpec:
    from costobs_server.replay import ReplaySpec, parse_time

    return ReplaySpec(
        from_time=parse_time(args.from_time, "--from") if args.from_time else None,
        from_seq=args.from_seq,
        to_time=parse_time(args.to_time, "--to") if args.to_time else None,
        org=args.org,
        job=args.job,
    )


class _Bar:
    """tqdm over messages, with the running counts after it."""

    def __init__(self, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(unit="msg", desc="replay", disable=not enabled, file=sys.stderr)

    def update(self, progress: dict[str, Any]) -> None:
        self.bar.total = max(progress["total_messages"], progress["messages"]) or None
        self.bar.n = progress["messages"]
        self.bar.set_postfix(
            inserted=progress["inserted"],
            stored=progress["already_stored"],
            rejected=progress["rejected"],
            refresh=False,
        )
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _replay(args: argparse.Namespace) -> int:
    import asyncio

    settings = _settings(args)
    spec = _spec(args)
    bar = _Bar(not args.no_progress)
    try:
        control = _control(args, settings)
        if control is not None:
            final = _replay_remote(control, spec, bar)
        else:
            final = asyncio.run(_replay_local(settings, spec, bar))
    finally:
        bar.close()
    return _summary(final)


def _replay_remote(control: Control, spec: ReplaySpec, bar: _Bar) -> dict[str, Any]:
    progress = _call(control, "POST", "/v1/ops/replay", spec.to_dict())
    job = progress["job"]
    stopping = False
    while True:
        try:
            bar.update(progress)
            if progress["state"] in ("done", "stopped", "failed"):
                return dict(progress)
            time.sleep(POLL_S)
            progress = _call(control, "GET", f"/v1/ops/replay/{job}")
        except KeyboardInterrupt:
            if stopping:
                raise
            stopping = True  # the job stops in the process and resumes when run again
            progress = _call(control, "DELETE", f"/v1/ops/replay/{job}")


async def _replay_local(settings: Settings, spec: ReplaySpec, bar: _Bar) -> dict[str, Any]:
    import asyncio
    import signal

    from costobs_server.ops import local_context

    def show(progress: ReplayProgress) -> None:
        bar.update(progress.to_dict())

    async with local_context(settings) as context:
        job = context.replay_job(spec, on_progress=show)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, job.stop)
        return (await job.run()).to_dict()


def _summary(progress: dict[str, Any]) -> int:
    keys = ("job", "state", "messages", "read", "inserted", "already_stored", "rejected")
    print(json.dumps({k: progress[k] for k in keys}))
    for rejection in progress.get("rejections", []):
        print(f"rejected message {rejection}", file=sys.stderr)
    if progress["state"] == "failed":
        raise CostObsError(f"replay {progress['job']} failed: {progress['error']}")
    if progress["state"] == "stopped":
        print(
            f"replay {progress['job']} stopped; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    return 1 if progress["rejected"] else 0


# -- dead letters --------------------------------------------------------------------------


def _dlq(args: argparse.Namespace) -> int:
    settings = _settings(args)
    command = args.dlq_command
    if command in ("replay", "purge") and not args.ids and not args.all:
        raise CostObsError(f"dlq {command}: name dead letters by ID, or --all")
    if command in ("replay", "purge") and args.ids and args.all:
        raise CostObsError(f"dlq {command}: IDs or --all, not both")
    if command == "purge" and not args.yes and not _confirm(args):
        print("nothing purged", file=sys.stderr)
        return 1
    control = _control(args, settings)
    if control is not None:
        result = _dlq_remote(control, args)
    else:
        import asyncio

        result = asyncio.run(_dlq_local(settings, args))
    _print_dlq(command, result)
    return 0


def _confirm(args: argparse.Namespace) -> bool:
    what = "EVERY dead letter" if args.all else f"dead letter(s) {', '.join(map(str, args.ids))}"
    if not sys.stdin.isatty():
        raise CostObsError("dlq purge deletes for good: confirm with --yes")
    answer = input(f"Delete {what} for good? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _dlq_remote(control: Control, args: argparse.Namespace) -> Any:
    command = args.dlq_command
    if command == "list":
        return _call(control, "GET", "/v1/ops/dlq")
    if command == "show":
        return _call(control, "GET", f"/v1/ops/dlq/{args.id}")
    return _call(control, "POST", f"/v1/ops/dlq/{command}", {"ids": args.ids, "all": args.all})


async def _dlq_local(settings: Settings, args: argparse.Namespace) -> Any:
    from costobs_server import dead_letters
    from costobs_server.ops import local_context

    command = args.dlq_command
    action: Callable[[Any], Any]
    if command == "list":

        async def action(js: Any) -> Any:
            return [d.summary() for d in await dead_letters.list_all(js)]
    elif command == "show":

        async def action(js: Any) -> Any:
            return (await dead_letters.get(js, args.id)).detail()
    else:
        call = dead_letters.redrive if command == "replay" else dead_letters.purge

        async def action(js: Any) -> Any:
            return [o.to_dict() for o in await call(js, args.ids, args.all)]

    context: OpsContext
    async with local_context(settings) as context:
        return await context.dead_letters(action)


def _print_dlq(command: str, result: Any) -> None:
    if command == "show":
        print(json.dumps(result, indent=2))
        return
    if command == "list":
        if not result:
            print("no dead letters")
        for d in result:
            print(
                f"{d['id']:>6}  {d['stream']:<6} {d['org']:<16} deliveries={d['deliveries']:<3} "
                f"first={d['first_failure']}  last={d['last_failure']}  {d['reason'][:120]}"
            )
        return
    for outcome in result:
        print(f"{outcome['id']:>6}  {outcome['result']}")


def register(sub: Any) -> None:
    def with_common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", type=Path, help="data directory (COSTOBS_DATA_DIR)")
        p.add_argument("--port", type=int, help="port of the running process (COSTOBS_PORT)")
        return p

    replay = with_common(
        sub.add_parser(
            "replay",
            help="re-read the events stream into the store (a lost or new ClickHouse); "
            "stored events are skipped",
        )
    )
    start = replay.add_mutually_exclusive_group()
    start.add_argument(
        "--from", dest="from_time", help="first receive time (ISO 8601; default: stream start)"
    )
    start.add_argument("--from-seq", type=int, help="first stream sequence")
    replay.add_argument("--to", dest="to_time", help="last receive time (ISO 8601)")
    replay.add_argument("--org", help="only this org's events")
    replay.add_argument(
        "--job", help="job name (default: derived from the options); re-running resumes it"
    )
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.set_defaults(func=_replay)

    dlq = sub.add_parser("dlq", help="dead letters: list, show, replay, purge")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    with_common(
        dlq_sub.add_parser("list", help="every dead letter: reason, deliveries, first/last failure")
    )
    with_common(dlq_sub.add_parser("show", help="one dead letter with its payload")).add_argument(
        "id", type=int
    )
    for name, text in (
        ("replay", "re-drive to the source subject (same msg-id: dedup holds)"),
        ("purge", "delete for good (asks first; --yes to skip)"),
    ):
        action = with_common(dlq_sub.add_parser(name, help=text))
        action.add_argument("ids", type=int, nargs="*", metavar="ID")
        action.add_argument("--all", action="store_true", help="every dead letter")
        if name == "purge":
            action.add_argument("--yes", action="store_true", help="do not ask")
    dlq.set_defaults(func=_dlq)
