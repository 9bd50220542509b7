"""Glue shared by the adapters (kept apart from the pure usage functions)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from costobs._context import Meta, with_call_meta
from costobs._context import _call as _call_var
from costobs._event import Call
from costobs._guard import report, safe
from costobs._observe import complete

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


def observe_response(response: Any, call: Call, finish: Callable[[Any], None]) -> None:
    """A Stainless ``APIResponse``/``AsyncAPIResponse`` (``with_raw_response`` in newer SDKs,
    ``with_streaming_response``): ``finish`` gets the parsed body when there is one.

    A body already read is parsed now (``parse()`` caches, so the caller gets the very same
    object). Otherwise the call is observed when the caller ``parse()``s (a stream as it is
    iterated) or, on close, from a body they read whole (``read()``/``json()``/``text()``; no
    network). A body never read, or an SSE stream read as raw lines, leaves the usage unknown:
    the call is still recorded, without tokens."""
    sse = bool(getattr(response, "_is_sse_stream", False))
    if not sse and hasattr(response.http_response, "_content"):
        if not inspect.iscoroutinefunction(response.parse):
            finish(response.parse())
            return
        task = asyncio.get_running_loop().create_task(_finish_later(response, call, finish))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)
        return
    original_parse = response.parse
    original_close = response.close
    settled = False

    def settle(parsed: Any) -> None:
        nonlocal settled
        if not settled:
            settled = True
            finish(parsed)

    def settle_at_close(parsed: Any) -> None:
        """``parsed``: the body read whole, or None when its usage stays unknown."""
        nonlocal settled
        if parsed is not None:
            settle(parsed)
        elif not settled:
            settled = True
            complete(call)

    def read_whole() -> bool:
        return not sse and hasattr(response.http_response, "_content")

    if inspect.iscoroutinefunction(original_parse):

        async def parse_async(*args: Any, **kwargs: Any) -> Any:
            parsed = await original_parse(*args, **kwargs)
            safe(settle, parsed)
            return parsed

        async def close_async() -> None:
            try:
                await original_close()
            finally:
                if not settled:
                    parsed = None
                    if read_whole():
                        try:
                            parsed = await original_parse()
                        except Exception as exc:  # pragma: no cover - a body read as JSON
                            report(exc)
                    safe(settle_at_close, parsed)

        response.parse, response.close = parse_async, close_async
        return

    def parse(*args: Any, **kwargs: Any) -> Any:
        parsed = original_parse(*args, **kwargs)
        safe(settle, parsed)
        return parsed

    def close() -> None:
        try:
            original_close()
        finally:
            if not settled:
                safe(settle_at_close, safe(original_parse) if read_whole() else None)

    response.parse, response.close = parse, close


_PENDING: set[asyncio.Task[None]] = set()
"""Tasks parsing a read async body (a reference keeps them from being collected)."""


async def _finish_later(response: Any, call: Call, finish: Callable[[Any], None]) -> None:
    try:
        finish(await response.parse())
    except Exception as exc:  # pragma: no cover - defensive: record the call without usage
        report(exc)
        complete(call)


def rewrapped(client: Any, defaults: Meta) -> bool:
    """Whether ``client`` is instrumented already; if so its wrap-time metadata is updated
    (wrapping again changes defaults, never doubles the observation)."""
    state = getattr(client, STATE_ATTR, None)
    if state is None:
        return False
    state.defaults = state.defaults.over(defaults)
    return True


def patch_copy(client: Any, state: Any, instrument: Callable[[Any, Meta], Any]) -> None:
    """``client.copy()`` / ``with_options()`` (Stainless clients): the copy is observed too,
    with the same wrap-time metadata."""
    original = client.copy

    def copy(*args: Any, **kwargs: Any) -> Any:
        new = original(*args, **kwargs)
        safe(instrument, new, state.defaults)
        return new

    client.copy = copy
    client.with_options = copy
