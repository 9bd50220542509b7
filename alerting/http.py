"""alertd's own HTTP port (server mode): ``GET /healthz`` and Prometheus ``GET /metrics``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def health_app(title: str, health: Callable[[], dict[str, Any]]) -> FastAPI:
    """A two-route app; ``health()`` reports checks, and ``nats: false`` makes it degraded."""
    app = FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        checks = health()
        ok = checks.get("nats", True) is not False
        return JSONResponse(
            {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
