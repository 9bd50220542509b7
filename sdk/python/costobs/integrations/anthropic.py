"""Anthropic ``Anthropic``/``AsyncAnthropic``: ``messages.create`` (incl. stream=True),
``messages.parse`` and the ``messages.stream()`` manager (which does not go through
``create``: its deferred request is observed instead).
"""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic._response import APIResponse, AsyncAPIResponse

try:  # with_raw_response before anthropic 2 (the module is gone since)
    from anthropic._legacy_response import LegacyAPIResponse
except ImportError:  # pragma: no cover - depends on the installed version
    LegacyAPIResponse = None

from costobs._context import Meta, effective, pop_call_meta
from costobs._event import Call
from costobs._guard import report
from costobs._observe import State, _fail, complete, observe_stainless_stream, patch, unset
from costobs._usage import anthropic as usage
from costobs.integrations._helpers import (
    STATE_ATTR,
    model_text,
    observe_response,
    patch_copy,
    rewrapped,
)

MIN_VERSION = (0, 60)


def _provider(client: Any) -> str:
    name = type(client).__name__
    if "Bedrock" in name:
        return "bedrock"
    if "Vertex" in name:
        return "vertex_ai"
    return "anthropic"


class _MessagesObserver:
    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def on_item(self, call: Call, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = event.message
            call.model = getattr(message, "model", None) or call.model
            call.provider_request_id = getattr(message, "id", None)
            usage.merge_latest(self.state, getattr(message, "usage", None))
        elif kind == "message_delta":
            usage.merge_latest(self.state, getattr(event, "usage", None))
        elif kind == "error":
            call.status = "error"
            call.error_type = str(getattr(getattr(event, "error", None), "type", None) or "error")
        return False

    def on_end(self, call: Call) -> None:
        if self.state:
            call.defer(fill_usage, self.state)


def fill_usage(call: Call, raw: Any) -> None:
    """Runs in the shipper thread (deferred), off the caller's path."""
    call.usage = usage.messages_usage(raw)
    call.service_tier = usage.tier(raw) or call.service_tier
    call.region = usage.region(raw) or call.region


class _Adapter:
    __slots__ = ("is_async",)

    def __init__(self, is_async: bool) -> None:
        self.is_async = is_async

    def start(
        self, state: State, args: tuple[Any, ...], kwargs: dict[str, Any], meta: Meta | None
    ) -> Call:
        call = Call(
            state.info["provider"],
            model_text(kwargs.get("model")),
            "chat",
            effective(state.defaults, meta),
        )
        tier = kwargs.get("service_tier")
        if not unset(tier) and tier != "auto":
            call.service_tier = str(tier)
        return call

    def finish(self, state: State, call: Call, result: Any) -> None:
        if isinstance(result, APIResponse | AsyncAPIResponse):  # with_raw/streaming_response
            observe_response(result, call, lambda parsed: self.finish(state, call, parsed))
            return
        if LegacyAPIResponse is not None and isinstance(result, LegacyAPIResponse):
            # parse() is cached by the response: the caller's own parse() returns this object
            self.finish(state, call, result.parse())
            return
        if isinstance(result, anthropic.Stream | anthropic.AsyncStream):
            observe_stainless_stream(result, call, _MessagesObserver(), self.is_async)
            return
        call.model = getattr(result, "model", None) or call.model
        call.provider_request_id = getattr(result, "id", None)
        call.defer(fill_usage, getattr(result, "usage", None))
        complete(call)


class _StreamManagerHelper:
    """``messages.stream(...)``: observe the raw event stream the manager opens on enter."""

    def __init__(self, original: Any, adapter: _Adapter, state: State) -> None:
        self.original = original
        self.adapter = adapter
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        meta = pop_call_meta(kwargs) if kwargs else None
        model = kwargs.get("model")
        manager = self.original(*args, **kwargs)
        try:
            self._bind(manager, model, meta)
        except Exception as exc:
            report(exc)
        return manager

    def _bind(self, manager: Any, model: Any, meta: Meta | None) -> None:
        for attr, request in list(vars(manager).items()):
            if not attr.endswith("__api_request"):
                continue
            if self.adapter.is_async:
                setattr(manager, attr, self._observed_async(request, model, meta))
            else:
                setattr(manager, attr, self._observed_sync(request, model, meta))

    def _new_call(self, model: Any, meta: Meta | None) -> Call | None:
        try:
            return self.adapter.start(self.state, (), {"model": model}, meta)
        except Exception as exc:
            report(exc)
            return None

    def _observed_sync(self, request: Any, model: Any, meta: Meta | None) -> Any:
        def run() -> Any:
            call = self._new_call(model, meta)
            try:
                raw = request()
            except BaseException as exc:
                if call is not None:
                    _fail(call, exc)
                raise
            if call is not None:
                self._observe(raw, call)
            return raw

        return run

    async def _observed_async(self, request: Any, model: Any, meta: Meta | None) -> Any:
        call = self._new_call(model, meta)
        try:
            raw = await request
        except BaseException as exc:
            if call is not None:
                _fail(call, exc)
            raise
        if call is not None:
            self._observe(raw, call)
        return raw

    def _observe(self, raw: Any, call: Call) -> None:
        try:
            observe_stainless_stream(raw, call, _MessagesObserver(), self.adapter.is_async)
        except Exception as exc:
            report(exc)


def instrument(client: Any, defaults: Meta) -> Any:
    if rewrapped(client, defaults):
        return client
    state = State(defaults)
    state.info["provider"] = _provider(client)
    is_async = isinstance(client, anthropic.AsyncAnthropic) or "Async" in type(client).__name__
    adapter = _Adapter(is_async)
    for path in ("messages", "beta.messages"):
        resource: Any = client
        try:
            for part in path.split("."):
                resource = getattr(resource, part)
        except Exception:
            continue
        for method in ("create", "parse"):
            if hasattr(resource, method):
                patch(resource, method, adapter, state, is_async)
        original = getattr(resource, "stream", None)
        if original is not None and not isinstance(original, _StreamManagerHelper):
            resource.stream = _StreamManagerHelper(original, adapter, state)
    if hasattr(client, "copy"):
        patch_copy(client, state, instrument)
    setattr(client, STATE_ATTR, state)
    return client
