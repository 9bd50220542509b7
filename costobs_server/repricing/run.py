"""One re-pricing job: every org-day in the range, priced again from its stored usage; a dry
run tallies, an apply swaps each changed day (``swap``) and records the job (``jobs``)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from consumers.pricer import Pricer
from costobs_server.errors import CostObsError
from costobs_server.repricing import jobs, swap
from costobs_server.repricing.plan import Tally, plan_day
from costobs_server.store import EventStore
from costobs_server.store.verify import rollups

STALE_RUNNING = timedelta(minutes=10)
"""A job ``running`` without progress for this long is taken for dead (its process ended)."""
_ONE_AT_A_TIME = threading.Lock()

Progress = Callable[[dict[str, Any]], None]


class RepriceError(CostObsError, ValueError):
    """A re-pricing request that cannot run (bad range, another job running, …)."""


@dataclass(frozen=True)
class Request:
    date_from: date
    """First UTC day, inclusive."""
    date_to: date
    """Last UTC day, inclusive."""
    org: str | None = None
    """None = every org."""
    provider: str = ""
    """'' = any; else only events stored under this provider."""
    model: str = ""
    dry_run: bool = False
    actor: str = ""


@dataclass
class Summary:
    job_id: str | None
    pricing_version: str
    dry_run: bool
    days: int = 0
    days_changed: int = 0
    recovered: int = 0
    """Days of earlier, interrupted jobs completed before this one started."""
    pending: int = 0
    """Dry run: days of interrupted jobs waiting for recovery (an apply completes them)."""
    by_model: dict[tuple[str, str], Tally] = field(default_factory=dict)

    @property
    def total(self) -> Tally:
        return Tally.of(self.by_model.values())

    def to_dict(self) -> dict[str, Any]:
        def money(t: Tally) -> dict[str, Any]:
            return {
                "events": t.checked,
                "changed": t.changed,
                "old_cost_usd": format(t.old_cost, "f"),
                "new_cost_usd": format(t.new_cost, "f"),
            }

        return {
            "job_id": self.job_id,
            "dry_run": self.dry_run,
            "pricing_version": self.pricing_version,
            "days": self.days,
            "days_changed": self.days_changed,
            "recovered_days": self.recovered,
            "pending_days": self.pending,
            "total": money(self.total),
            "models": [
                {"provider": p, "model": m, **money(t)}
                for (p, m), t in sorted(self.by_model.items())
            ],
        }


def new_job_id() -> str:
    return f"rp-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def org_days(store: EventStore, request: Request) -> list[tuple[str, date]]:
    rows = store.query(
        "SELECT org_id, toDate(timestamp) AS d FROM events "
        "WHERE timestamp >= {t0:DateTime64(3, 'UTC')} AND timestamp < {t1:DateTime64(3, 'UTC')} "
        "AND ({org:String} = '' OR org_id = {org:String}) "
        "AND ({provider:String} = '' OR provider = {provider:String}) "
        "AND ({model:String} = '' OR model = {model:String}) "
        "GROUP BY org_id, d ORDER BY org_id, d",
        {
            "t0": datetime.combine(request.date_from, datetime.min.time()),
            "t1": datetime.combine(request.date_to + timedelta(days=1), datetime.min.time()),
            "org": request.org or "",
            "provider": request.provider,
            "model": request.model,
        },
    )
    return [(str(org), day) for org, day in rows]


def recover(store: EventStore) -> list[tuple[str, str, date]]:
    """Complete the days interrupted jobs left (swap.recover) and mark those jobs stopped."""
    found = swap.recover(store)
    jobs.mark_stopped(store, {job for job, _, _ in found})
    return found


def _running(store: EventStore) -> list[tuple[str, str]]:
    since = datetime.now(UTC) - STALE_RUNNING
    rows = store.query(
        "SELECT org_id, job_id FROM reprice_jobs FINAL "
        "WHERE state = 'running' AND updated_at > {since:DateTime64(6, 'UTC')}",
        {"since": since},
    )
    return [(str(o), str(j)) for o, j in rows]


def reprice(
    store: EventStore,
    pricer: Pricer,
    request: Request,
    progress: Progress | None = None,
    hook: swap.StepHook | None = None,
) -> Summary:
    """Run one job (see the package docstring). ``hook`` is called after each journal step."""
    if request.date_from > request.date_to:
        raise RepriceError(
            f"--from {request.date_from} is after --to {request.date_to}: nothing to re-price"
        )
    if store.cluster:
        # the swap deletes from events and writes the rollups by their plain names, which a
        # cluster serves as Distributed tables: not built for those yet
        raise RepriceError("re-pricing on a ClickHouse cluster is not supported yet")
    if not _ONE_AT_A_TIME.acquire(blocking=False):
        raise RepriceError("a re-pricing job is already running in this process")
    try:
        # another process can only be re-pricing the same store on a ClickHouse server
        if not request.dry_run and not store.in_process and (busy := _running(store)):
            raise RepriceError(
                f"re-pricing job {busy[0][1]} (org {busy[0][0]}) is running; wait for it "
                f"(a job without progress for {STALE_RUNNING} is taken for stopped)"
            )
        return _run(store, pricer, request, progress or (lambda _: None), hook)
    finally:
        _ONE_AT_A_TIME.release()


def _run(
    store: EventStore,
    pricer: Pricer,
    request: Request,
    progress: Progress,
    hook: swap.StepHook | None,
) -> Summary:
    job_id = None if request.dry_run else new_job_id()
    summary = Summary(job_id, pricer.table.version, request.dry_run)
    if request.dry_run:
        summary.pending = len(swap.interrupted(store))
    else:
        summary.recovered = len(recover(store))
    days = org_days(store, request)
    records: dict[str, jobs.JobRecord] = {}
    started = datetime.now(UTC)
    for org, _ in days:
        if job_id is not None and org not in records:
            records[org] = jobs.JobRecord(
                org,
                job_id,
                started,
                request.actor,
                request.date_from,
                request.date_to,
                request.provider,
                request.model,
                pricer.table.version,
            )
        if org in records:
            records[org].days_total += 1
    for record in records.values():
        jobs.save(store, record)
    views = rollups(store)
    current: tuple[str, date] | None = None
    try:
        for index, (org, day) in enumerate(days, start=1):
            current = None
            by_model: dict[tuple[str, str], Tally] = {}
            staged = 0
            for part, rows in enumerate(
                swap.read_day(store, org, day, request.provider, request.model, swap.CHUNK)
            ):
                plan = plan_day(org, rows, pricer, job_id or "")
                for key, tally in plan.by_model.items():
                    by_model.setdefault(key, Tally()).merge(tally)
                if plan.rows and job_id is not None:
                    swap.stage(store, job_id, org, day, part, plan.rows)
                    staged += 1
            if staged and job_id is not None:
                swap.seal(store, job_id, org, day)
                current = (org, day)
                if hook is not None:
                    hook(job_id, org, day, "staged")
                swap.apply(store, job_id, org, day, hook, views)
            current = None
            total = Tally.of(by_model.values())
            for key, tally in by_model.items():
                summary.by_model.setdefault(key, Tally()).merge(tally)
            summary.days += 1
            summary.days_changed += bool(total.changed)
            if job_id is not None:
                record = records[org]
                record.days_done += 1
                record.events_checked += total.checked
                record.events_changed += total.changed
                record.old_cost_usd += total.old_cost
                record.new_cost_usd += total.new_cost
                jobs.save(store, record)
            progress(
                {
                    "org_id": org,
                    "day": day.isoformat(),
                    "n": index,
                    "of": len(days),
                    "events": total.checked,
                    "changed": total.changed,
                    "old_cost_usd": format(total.old_cost, "f"),
                    "new_cost_usd": format(total.new_cost, "f"),
                }
            )
    except KeyboardInterrupt:
        # Ctrl-C: finish the day in hand (it is staged), so it holds the new figures
        if current is not None and job_id is not None:
            swap.apply(store, job_id, *current)
        _finish(store, records, "interrupted")
        raise
    except BaseException:
        _finish(store, records, "interrupted")
        raise
    _finish(store, records, "done")
    return summary


def _finish(store: EventStore, records: dict[str, jobs.JobRecord], state: str) -> None:
    for record in records.values():
        record.state = state
        try:
            jobs.save(store, record)
        except Exception:  # the store itself failed: the record stays 'running', then stale
            return
