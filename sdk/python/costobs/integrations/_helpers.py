"""Glue shared by the adapters (kept apart from the pure usage functions)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import Any

from costobs._context import Meta, with_call_meta
from costobs._context import _call as _call_var

STATE_ATTR = "__costobs_state__"


def bind_manager(manager: Any, meta: Meta | None) -> None:
    """Carry per-call metadata into a stream manager's deferred request (``…__api_request``)."""
    if meta is None:
        return
    for attr, value in list(vars(manager).items()):
        if not attr.endswith("__api_request"):
            continue
        if inspect.isawaitable(value):
            setattr(manager, attr, _await_with_meta(value, meta))
        elif callable(value):
            setattr(manager, attr, with_call_meta(value, meta))


async def _await_with_meta(awaitable: Awaitable[Any], meta: Meta) -> Any:
    token = _call_var.set(meta)
    try:
        return await awaitable
    finally:
        _call_var.reset(token)


def model_text(value: Any) -> str:
    return "" if value is None or type(value).__name__ in ("NotGiven", "Omit") else str(value)
