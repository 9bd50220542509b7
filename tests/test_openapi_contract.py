"""Schemathesis against the running API's own ``/openapi.json``: generated valid and invalid
requests for every operation, bounded in examples, must never get a 5xx, and every status
code the API answers must be one the document declares for that operation."""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error, status_code_conformance
from schemathesis.generation import GenerationMode

from tests.helpers import Running

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]  # ~600 requests: up to a minute

EXAMPLES = 8
"""Per operation and mode: ~40 operations × 2 modes, about 600 requests (30–60 s here)."""


def _explore(url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """(requests made, failures as text). Runs in a thread: schemathesis calls are blocking and
    the server lives on the test's event loop."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    calls = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(
                    base_url=url,
                    headers=headers,
                    checks=[not_a_server_error, status_code_conformance],
                    timeout=30,
                )

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing to make invalid (no parameters, or free-form ones)
            except (Exception, BaseExceptionGroup) as exc:  # a failing example: report all
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")
    return calls, failures


async def test_no_server_errors_and_only_documented_status_codes(running: Running) -> None:
    calls, failures = await asyncio.to_thread(_explore, running.url, running.org.headers)
    assert calls > 250, calls  # every operation was exercised
    assert not failures, "\n\n".join(failures)
