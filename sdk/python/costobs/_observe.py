"""Instrumentation seam shared by every adapter: wrap one method, observe one call.

The provider call itself is never altered: its result object is returned as is (streams
are the same object, with their item iterator observed), its exception re-raised untouched,
and everything the SDK does around it runs inside a never-raise guard.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol

from costobs import _config, _shipper
from costobs._context import EMPTY, Meta, pop_call_meta
from costobs._event import Call
from costobs._guard import report

ORIGINAL = "__costobs_original__"

CURRENT: ContextVar[Call | None] = ContextVar("costobs_current_call", default=None)
"""The call whose provider request is in flight here: transport hooks (response headers)
attach what they see to it."""


class State:
    """Per wrapped client: its wrap-time metadata (updated when wrapped again)."""

    __slots__ = ("defaults", "info")

    def __init__(self, defaults: Meta) -> None:
        self.defaults = defaults
        self.info: dict[str, Any] = {}


class Adapter(Protocol):
    def start(
        self, state: State, args: tuple[Any, ...], kwargs: dict[str, Any], meta: Meta | None
    ) -> Call | None: ...

    def finish(self, state: State, call: Call, result: Any) -> None: ...


class StreamObserver(Protocol):
    def on_item(self, call: Call, item: Any) -> bool:
        """Observe one streamed item; True hides it from the caller (injected usage chunk)."""
        ...

    def on_end(self, call: Call) -> None:
        """Fill ``call`` from what the stream showed (usage, model, final status)."""
        ...


def complete(call: Call) -> None:
    """Ship a finished call once."""
    if call.done:
        return
    call.done = True
    if not call.latency_ms:
        call.stop_clock()
    _shipper.submit(call)


def status_of(exc: BaseException) -> str:
    """cancelled (the caller stopped), timeout (any client's timeout error: openai/anthropic
    ``APITimeoutError``, httpx ``ReadTimeout``, botocore ``ReadTimeoutError``, ``TimeoutError``)
    or error (the provider refused or failed)."""
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit)):
        return "cancelled"
    if isinstance(exc, TimeoutError) or any("Timeout" in c.__name__ for c in type(exc).__mro__):
        return "timeout"
    return "error"


def fail(call: Call, exc: BaseException) -> None:
    call.status = status_of(exc)
    status_code = getattr(exc, "status_code", None)
    call.error_type = type(exc).__name__ + (
        f":{status_code}" if isinstance(status_code, int) else ""
    )
    complete(call)


def _start(
    adapter: Adapter, state: State, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Call | None:
    meta = pop_call_meta(kwargs) if kwargs else None
    if not _config.current().enabled:
        return None
    try:
        return adapter.start(state, args, kwargs, meta)
    except Exception as exc:
        report(exc)
        return None


def _finish(adapter: Adapter, state: State, call: Call, result: Any) -> None:
    try:
        adapter.finish(state, call, result)
    except Exception as exc:
        report(exc)


def _retry(
    adapter: Adapter, state: State, call: Call, kwargs: dict[str, Any], exc: BaseException
) -> bool:
    """An adapter's optional ``retry(state, call, kwargs, exc) -> bool``: whether the call is
    made once more, ``kwargs`` rid of what the SDK added and the provider refused (a gateway
    refusing the injected ``stream_options``)."""
    retry = getattr(adapter, "retry", None)
    if retry is None or not isinstance(exc, Exception):
        return False
    try:
        return bool(retry(state, call, kwargs, exc))
    except Exception as inner:
        report(inner)
        return False


def _fail(call: Call, exc: BaseException) -> None:
    try:
        fail(call, exc)
    except Exception as inner:
        report(inner)


def wrap_sync(original: Callable[..., Any], adapter: Adapter, state: State) -> Callable[..., Any]:
    @functools.wraps(original)
    def observed(*args: Any, **kwargs: Any) -> Any:
        call = _start(adapter, state, args, kwargs)
        if call is None:
            return original(*args, **kwargs)
        token = CURRENT.set(call)
        try:
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                if not _retry(adapter, state, call, kwargs, exc):
                    _fail(call, exc)
                    raise
                retry = True
            else:
                retry = False
            if retry:  # outside the handler: the caller never sees the refused attempt
                try:
                    result = original(*args, **kwargs)
                except BaseException as exc:
                    _fail(call, exc)
                    raise
        finally:
            CURRENT.reset(token)
        _finish(adapter, state, call, result)
        return result

    setattr(observed, ORIGINAL, original)
    return observed


def wrap_async(original: Callable[..., Any], adapter: Adapter, state: State) -> Callable[..., Any]:
    @functools.wraps(original)
    async def observed(*args: Any, **kwargs: Any) -> Any:
        call = _start(adapter, state, args, kwargs)
        if call is None:
            return await original(*args, **kwargs)
        token = CURRENT.set(call)
        try:
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                if not _retry(adapter, state, call, kwargs, exc):
                    _fail(call, exc)
                    raise
                retry = True
            else:
                retry = False
            if retry:  # outside the handler: the caller never sees the refused attempt
                try:
                    result = await original(*args, **kwargs)
                except BaseException as exc:
                    _fail(call, exc)
                    raise
        finally:
            CURRENT.reset(token)
        _finish(adapter, state, call, result)
        return result

    setattr(observed, ORIGINAL, original)
    return observed


def is_wrapped(fn: Any) -> bool:
    return hasattr(fn, ORIGINAL)


def patch(
    obj: Any, name: str, adapter: Adapter, state: State, is_async: bool | None = None
) -> bool:
    """Replace ``obj.name`` on the instance by its observed version (idempotent)."""
    original = getattr(obj, name, None)
    if original is None or is_wrapped(original):
        return False
    if is_async is None:
        is_async = asyncio.iscoroutinefunction(original)
    wrapper = wrap_async if is_async else wrap_sync
    setattr(obj, name, wrapper(original, adapter, state))
    return True


# -- streams -------------------------------------------------------------------------------


def _end_stream(
    call: Call, observer: StreamObserver, status: str, exc: BaseException | None
) -> None:
    if call.done:
        return
    try:
        call.stop_clock()
        if exc is not None:
            call.error_type = type(exc).__name__
        if call.status == "ok":  # the observer may already know better (failed, error event)
            call.status = status
        observer.on_end(call)  # may set a status the stream itself reported (failed, …)
    except Exception as inner:
        report(inner)
    try:
        complete(call)
    except Exception as inner:
        report(inner)


def _on_item(call: Call, observer: StreamObserver, item: Any) -> bool:
    try:
        if call.ttft_ms is None:
            call.mark_first_token()
        return observer.on_item(call, item)
    except Exception as exc:
        report(exc)
        return False


def observe_iter(items: Iterator[Any], call: Call, observer: StreamObserver) -> Iterator[Any]:
    """The same items (less hidden ones); one event when the stream ends, fails or is closed."""
    try:
        for item in items:
            if not _on_item(call, observer, item):
                yield item
    except GeneratorExit:
        _end_stream(call, observer, "cancelled", None)
        close = getattr(items, "close", None)
        if close is not None:
            close()
        raise
    except BaseException as exc:
        _end_stream(call, observer, status_of(exc), exc)
        raise
    _end_stream(call, observer, "ok", None)


async def observe_aiter(
    items: AsyncIterator[Any], call: Call, observer: StreamObserver
) -> AsyncIterator[Any]:
    try:
        async for item in items:
            if not _on_item(call, observer, item):
                yield item
    except GeneratorExit:
        _end_stream(call, observer, "cancelled", None)
        raise
    except BaseException as exc:
        _end_stream(call, observer, status_of(exc), exc)
        raise
    _end_stream(call, observer, "ok", None)


def observe_stainless_stream(
    stream: Any, call: Call, observer: StreamObserver, is_async: bool
) -> None:
    """Observe an openai/anthropic ``Stream``/``AsyncStream`` in place (same object returned).

    Their item iterator lives in ``_iterator``; closing the stream early ends the call as
    cancelled with the usage seen so far.
    """
    call.streaming = True
    inner = stream._iterator
    if is_async:
        stream._iterator = observe_aiter(inner, call, observer)
    else:
        stream._iterator = observe_iter(inner, call, observer)
    cls_close = type(stream).close
    ref = weakref.ref(stream)  # no cycle: a dropped stream is still freed at once

    if is_async:

        async def aclose() -> Any:
            _end_stream(call, observer, "cancelled", None)
            target = ref()
            return None if target is None else await cls_close(target)

        stream.close = aclose
    else:

        def close() -> Any:
            _end_stream(call, observer, "cancelled", None)
            target = ref()
            return None if target is None else cls_close(target)

        stream.close = close


def unset(value: Any) -> bool:
    """True for a missing argument (None or a provider SDK's NOT_GIVEN/omit sentinel)."""
    return value is None or type(value).__name__ in ("NotGiven", "Omit", "_NotGiven", "_Omit")


EMPTY_META = EMPTY
