"""Every read parameter is validated before it reaches the store: dates and instants outside
the supported range (``costobs_server.bounds``) are 422 naming the parameter, never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from costobs_server.bounds import FIRST_DAY, LAST_DAY, RANGE_TEXT
from readapi.routes.requests import encode_cursor
from tests.helpers import Running

pytestmark = pytest.mark.timeout(120)

# (path, params, the parameter the answer must name)
OUT_OF_RANGE: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/summary", {"from": "0001-01-01", "to": "0001-01-02"}, "from"),
    ("/v1/summary", {"from": "9999-12-30"}, "from"),
    ("/v1/summary", {"to": "9999-12-31"}, "to"),
    ("/v1/series", {"from": "1969-12-31", "to": "1970-01-01"}, "from"),
    ("/v1/breakdown", {"by": "model", "from": "0001-01-01", "to": "0001-01-02"}, "from"),
    ("/v1/tags", {"from": "2026-11-01", "to": "2149-06-07"}, "to"),
    ("/v1/unpriced", {"from": "1899-12-31"}, "from"),
    ("/v1/requests", {"from": "0001-01-01"}, "from"),
    ("/v1/prompts", {"to": "9999-01-01"}, "to"),
    ("/v1/prompts/compare", {"prompt_key": "p", "from": "0001-01-01"}, "from"),
    ("/v1/forecast", {"as_of": "0382-09-25"}, "as_of"),
    ("/v1/forecast", {"as_of": "9999-12-31"}, "as_of"),
    ("/v1/reconcile", {"from": "0001-01-01", "to": "0001-01-02"}, "from"),
    ("/v1/requests/x", {"timestamp": "0449-02-22T05:56:17Z"}, "timestamp"),
    ("/v1/requests/x", {"timestamp": "9999-12-31T23:59:59-23:59"}, "timestamp"),
    ("/v1/usage/summary", {"from": "0001-01-01", "to": "0001-01-02"}, "from"),
]


async def test_dates_outside_the_supported_range_are_422_naming_the_parameter(
    running: Running,
) -> None:
    for path, params, name in OUT_OF_RANGE:  # one stack for all: starting one takes seconds
        r = await running.client.get(path, params=params, headers=running.org.headers)
        assert r.status_code == 422, (path, params, r.status_code, r.text)
        problems = {p["loc"][-1]: p["msg"] for p in r.json()["detail"]}
        assert f"outside the supported range {RANGE_TEXT}" in problems[name], (path, problems)


async def test_the_ends_of_the_range_are_served_and_forged_cursors_refused(
    running: Running,
) -> None:
    h = running.org.headers
    first, last = FIRST_DAY.isoformat(), LAST_DAY.isoformat()
    for path, params in [
        ("/v1/summary", {"from": first, "to": first}),
        ("/v1/summary", {"from": last, "to": last}),
        ("/v1/series", {"from": first, "to": first}),
        ("/v1/forecast", {"as_of": first}),
        ("/v1/forecast", {"as_of": last}),
        ("/v1/reconcile", {"from": last, "to": last}),
        ("/v1/usage/summary", {"from": first, "to": last}),
    ]:
        r = await running.client.get(path, params=params, headers=h)
        assert r.status_code == 200, (path, params, r.text)
    r = await running.client.get(
        "/v1/requests/x", params={"timestamp": f"{first}T00:00:00Z"}, headers=h
    )
    assert r.status_code == 404, r.text  # served: the request simply does not exist
    # a forged cursor from outside the range is refused like a parameter

    cursor = encode_cursor(datetime(1, 1, 1), "x")
    r = await running.client.get("/v1/requests", params={"cursor": cursor}, headers=h)
    assert r.status_code == 422, r.text
    assert "'cursor'" in r.json()["detail"]
