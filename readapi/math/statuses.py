"""Call statuses as the read API groups them, and summing breakdown rows. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FAILED = ("error", "timeout", "cancelled")
"""Calls that answered nothing usable but may be billed for what the provider did: the
provider refused or failed (error), no complete answer in time (timeout), the caller stopped
(cancelled). Their usage is what the SDK saw before the end."""

_METRICS = ("requests", "input_tokens", "output_tokens", "cost")


def matching(status: str) -> frozenset[str]:
    """The stored statuses a filter value selects (``failed`` = every failed kind)."""
    return frozenset(FAILED) if status == "failed" else frozenset({status})


def total(metrics: Iterable[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: 0 for k in _METRICS}
    for m in metrics:
        for k in _METRICS:
            out[k] += m[k]
    return out


def sum_rows(
    rows: Iterable[tuple[list[str], dict[str, Any]]],
) -> list[tuple[list[str], dict[str, Any]]]:
    """Rows with equal keys summed; most expensive first, then by keys."""
    merged: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for keys, m in rows:
        merged.setdefault(tuple(keys), []).append(m)
    out = [(list(keys), total(ms)) for keys, ms in merged.items()]
    out.sort(key=lambda r: (-r[1]["cost"], r[0]))
    return out
