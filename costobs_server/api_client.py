"""The command line's HTTP client for the CostObs API: ``--url`` / ``--api-key`` arguments, a
client with the key, and ``call`` that turns an HTTP failure into a ``CostObsError`` naming the
request. Used by every CLI command that talks to a running server (alerts, billing import,
exports).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from costobs_server.errors import CostObsError
from costobs_server.vocabulary import DEV_KEY

if TYPE_CHECKING:  # httpx is imported by the commands that call the API, not at CLI start
    import httpx


def add_client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="CostObs read API (default http://COSTOBS_HOST:COSTOBS_PORT)")
    p.add_argument("--api-key", help="API key (default $COSTOBS_API_KEY, else the dev key)")


def client(args: argparse.Namespace) -> httpx.Client:
    import httpx

    from costobs_server.settings import load_settings

    url = args.url
    if not url:
        settings = load_settings()
        url = f"http://{settings.host}:{settings.port}"
    key = args.api_key or os.environ.get("COSTOBS_API_KEY") or DEV_KEY
    return httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def call(c: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    import httpx

    try:
        response = c.request(
            method,
            path,
            content=None if body is None else json.dumps(body, default=str),
            headers={"Content-Type": "application/json"} if body is not None else None,
        )
    except httpx.HTTPError as exc:
        raise CostObsError(f"cannot reach CostObs at {c.base_url}: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise CostObsError(f"{method} {path}: HTTP {response.status_code}: {detail}")
    return None if response.status_code == 204 else response.json()
