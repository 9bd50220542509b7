"""``GET /healthz`` and Prometheus ``GET /metrics`` for every long-running role.

The ingest/read API mounts the two routes on its own app; writer, alertd and billsyncd each
serve them from ``health_app`` on a port of their own. A role reports a dict of checks; it is
healthy unless the report carries ``problems`` (check name → why) or says ``nats: false``. An
unhealthy report is answered 503 with the reasons, so a probe's log says what is wrong.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Report = dict[str, Any]
HealthCheck = Callable[[], Report | Awaitable[Report]]

HEALTHZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"description": "Unhealthy: `problems` names each failed check and why"}
}


async def probe(checks: Mapping[str, Awaitable[object]], within_s: float) -> Report:
    """Run ``checks`` concurrently, each bounded by ``within_s``: a frozen dependency is as
    unhealthy as a dead one. Returns ``{name: passed, …}`` plus ``problems`` when any failed."""
    results = await asyncio.gather(
        *(asyncio.wait_for(check, within_s) for check in checks.values()),
        return_exceptions=True,
    )
    report: Report = {
        name: not isinstance(r, BaseException) for name, r in zip(checks, results, strict=True)
    }
    problems = {
        name: (f"no answer within {within_s}s" if isinstance(r, TimeoutError) else repr(r))
        for name, r in zip(checks, results, strict=True)
        if isinstance(r, BaseException)
    }
    if problems:
        report["problems"] = problems
    return report


def problems_of(report: Report) -> dict[str, str]:
    """Why ``report`` is unhealthy (empty when healthy)."""
    problems = dict(report.get("problems") or {})
    if report.get("nats") is False and "nats" not in problems:
        problems["nats"] = "not connected to NATS"
    return problems


def answer(report: Report) -> JSONResponse:
    problems = problems_of(report)
    body = {"status": "degraded" if problems else "ok", **report}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=503 if problems else 200)


def add_health_routes(app: FastAPI, health: HealthCheck) -> None:
    """Mount ``GET /healthz`` (answering ``health()``'s report) and ``GET /metrics``."""

    @app.get("/healthz", responses=HEALTHZ_RESPONSES)
    async def healthz() -> JSONResponse:
        report = health()
        if inspect.isawaitable(report):
            report = await report
        return answer(report)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def health_app(title: str, health: HealthCheck) -> FastAPI:
    """A role's own HTTP port: only ``/healthz`` and ``/metrics``."""
    app = FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None)
    add_health_routes(app, health)
    return app
