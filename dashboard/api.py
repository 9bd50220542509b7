"""The dashboard's only data source: the read API, with short-lived caching."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx
import streamlit as st

from costobs_server.errors import CostObsError

CACHE_SECONDS = 30


class ApiError(CostObsError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return detail if isinstance(detail, str) else str(detail)[:300]


def _request(
    method: str,
    base: str,
    key: str,
    path: str,
    params: Any = None,
    body: Any = None,
    csv: str | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if csv is not None:
        headers["Content-Type"] = "text/csv"
    try:
        r = httpx.request(
            method,
            base + path,
            params=params,
            json=body if csv is None else None,
            content=csv.encode() if csv is not None else None,
            headers=headers,
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise ApiError(0, f"the read API at {base} is not reachable: {exc}") from None
    if r.status_code >= 400:
        raise ApiError(r.status_code, _detail(r))
    return r.json() if r.content else None


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def _cached_get(
    base: str, key_digest: str, path: str, params: tuple[tuple[str, str], ...], _key: str
) -> Any:
    # key_digest keys the cache per credential (so orgs never share entries); _key is not
    # hashed by Streamlit, so the secret itself is not part of the cache key.
    return _request("GET", base, _key, path, list(params))


@dataclass(frozen=True)
class Api:
    base: str
    key: str

    def get(self, path: str, **params: Any) -> Any:
        flat: list[tuple[str, str]] = []
        for name, value in params.items():
            if value is None:
                continue
            for v in value if isinstance(value, list | tuple) else [value]:
                flat.append((name, str(v)))
        digest = hashlib.sha256(self.key.encode()).hexdigest()
        return _cached_get(self.base, digest, path, tuple(flat), self.key)

    def send(self, method: str, path: str, body: Any = None, csv: str | None = None) -> Any:
        """A change (not cached); clears cached reads so pages show it at once. ``csv``
        sends that text as ``text/csv`` instead of a JSON body."""
        result = _request(method, self.base, self.key, path, body=body, csv=csv)
        _cached_get.clear()
        return result
