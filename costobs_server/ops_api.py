"""The running process's operator endpoints, ``/v1/ops/…``: replay jobs and dead letters.

Only ``costobs up`` (the process that owns chDB) serves them, to the CLI on the same machine:
each request carries the token of ``<data dir>/control.json`` (costobs_server/ops.py). They are
not part of the public API (no OpenAPI entry); the CLI is their one client.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request

from costobs_server import dead_letters
from costobs_server.errors import CostObsError
from costobs_server.ops import OpsContext, publish_control, withdraw_control
from costobs_server.replay import ReplayJob, ReplaySpec

log = logging.getLogger(__name__)


class OpsService:
    """Replay jobs running inside this process, by name, and the dead-letter actions."""

    def __init__(self, context: OpsContext) -> None:
        self.context = context
        self.token = publish_control(context.settings)
        self.jobs: dict[str, tuple[ReplayJob, asyncio.Task[Any]]] = {}

    def start_replay(self, spec: ReplaySpec) -> ReplayJob:
        """Start the job, or return it if it runs already (the same job twice is one job)."""
        running = self.jobs.get(spec.durable)
        if running is not None and not running[1].done():
            return running[0]
        job = self.context.replay_job(spec)
        self.jobs[spec.durable] = (job, asyncio.create_task(job.run(), name=spec.durable))
        return job

    def job(self, name: str) -> ReplayJob:
        if name not in self.jobs:
            raise HTTPException(404, f"no replay job {name!r} in this process")
        return self.jobs[name][0]

    async def close(self) -> None:
        """Stop the jobs (each resumes on the next run) and withdraw the control file."""
        withdraw_control(self.context.settings)
        for job, _ in self.jobs.values():
            job.stop()
        tasks = [task for _, task in self.jobs.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=30)


def _service(request: Request) -> OpsService:
    service: OpsService = request.app.state.ops
    given = request.headers.get("authorization", "")
    if not secrets.compare_digest(given.encode(), f"Bearer {service.token}".encode()):
        raise HTTPException(401, "operator endpoints need the token of <data dir>/control.json")
    return service


Service = Annotated[OpsService, Depends(_service)]
router = APIRouter(prefix="/v1/ops", include_in_schema=False)


def _checked(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except CostObsError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/replay")
async def start_replay(service: Service, spec: Annotated[dict[str, Any], Body()]) -> Any:
    job = service.start_replay(_checked(ReplaySpec.from_dict, spec))
    return job.progress.to_dict()


@router.get("/replay/{name}")
async def replay_progress(service: Service, name: str) -> Any:
    return service.job(name).progress.to_dict()


@router.delete("/replay/{name}")
async def stop_replay(service: Service, name: str) -> Any:
    job = service.job(name)
    job.stop()
    return job.progress.to_dict()


async def _dead_letter_call(service: OpsService, action: Any) -> Any:
    try:
        return await service.context.dead_letters(action)
    except dead_letters.DeadLetterError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/dlq")
async def list_dead_letters(service: Service) -> Any:
    found = await _dead_letter_call(service, dead_letters.list_all)
    return [d.summary() for d in found]


@router.get("/dlq/{dead_letter_id}")
async def show_dead_letter(service: Service, dead_letter_id: int) -> Any:
    found = await _dead_letter_call(service, lambda js: dead_letters.get(js, dead_letter_id))
    return found.detail()


@router.post("/dlq/{action}")
async def act_on_dead_letters(
    service: Service, action: str, body: Annotated[dict[str, Any], Body()]
) -> Any:
    calls = {"replay": dead_letters.redrive, "purge": dead_letters.purge}
    if action not in calls:
        raise HTTPException(404, f"no dead-letter action {action!r}")
    ids = [int(i) for i in body.get("ids", [])]
    every = bool(body.get("all", False))
    outcomes = await _dead_letter_call(service, lambda js: calls[action](js, ids, every))
    return [o.to_dict() for o in outcomes]


def install(app: FastAPI, context: OpsContext) -> OpsService:
    service = OpsService(context)
    app.state.ops = service
    app.include_router(router)
    return service
