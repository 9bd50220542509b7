"""google-genai ``Client``: ``models.generate_content``, ``generate_content_stream``,
``embed_content`` and their ``client.aio`` variants (Gemini API and Vertex AI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from costobs._context import Meta, effective
from costobs._event import Call
from costobs._observe import State, complete, observe_aiter, observe_iter, patch
from costobs._usage import gemini as usage
from costobs._usage._common import g
from costobs.integrations._helpers import STATE_ATTR, rewrapped

MIN_VERSION = (1, 20)


def _tier(meta: Any) -> str | None:
    traffic = str(getattr(g(meta, "traffic_type"), "value", g(meta, "traffic_type")) or "").upper()
    if "PRIORITY" in traffic:
        return "priority"
    if "FLEX" in traffic:
        return "flex"
    return None


def fill(call: Call, response: Any) -> None:
    meta = g(response, "usage_metadata")
    if g(response, "model_version"):
        call.model = usage.model_name(response.model_version)
    call.provider_request_id = g(response, "response_id") or call.provider_request_id
    if meta is not None:
        call.defer(_usage, meta)


def _usage(call: Call, meta: Any) -> None:
    call.usage = usage.generate_usage(meta)
    call.service_tier = _tier(meta) or call.service_tier


def _embed_usage(call: Call, response: Any) -> None:
    call.usage = usage.embed_usage(response)


class _StreamObserver:
    """Each chunk may carry ``usage_metadata``; the last one is complete."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: Any = None

    def on_item(self, call: Call, chunk: Any) -> bool:
        if g(chunk, "usage_metadata") is not None:
            self.last = chunk
        elif g(chunk, "model_version"):
            call.model = usage.model_name(chunk.model_version)
        return False

    def on_end(self, call: Call) -> None:
        if self.last is not None:
            fill(call, self.last)


class _Adapter:
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def start(
        self, state: State, args: tuple[Any, ...], kwargs: dict[str, Any], meta: Meta | None
    ) -> Call:
        operation = "embedding" if self.kind == "embed" else "chat"
        call = Call(
            state.info["provider"],
            usage.model_name(kwargs.get("model")),
            operation,
            effective(state.defaults, meta),
        )
        return call

    def finish(self, state: State, call: Call, result: Any) -> None:
        if self.kind == "embed":
            call.defer(_embed_usage, result)
            complete(call)
        elif self.kind == "generate":
            fill(call, result)
            complete(call)


class _StreamAdapter(_Adapter):
    """Streams are generators: the caller gets a generator yielding the same chunks."""

    def __init__(self) -> None:
        super().__init__("stream")

    def wrap_result(self, call: Call, result: Any, is_async: bool) -> Any:
        call.streaming = True
        if is_async:
            return observe_aiter(result, call, _StreamObserver())
        return observe_iter(result, call, _StreamObserver())


def _patch_stream(models: Any, state: State, is_async: bool) -> None:
    from costobs._observe import ORIGINAL, _fail, _start

    original = getattr(models, "generate_content_stream", None)
    if original is None or hasattr(original, ORIGINAL):
        return
    adapter = _StreamAdapter()

    if is_async:

        async def astream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            call = _start(adapter, state, args, kwargs)
            if call is None:
                return await original(*args, **kwargs)  # type: ignore[no-any-return]
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                _fail(call, exc)
                raise
            return adapter.wrap_result(call, result, True)  # type: ignore[no-any-return]

        setattr(astream, ORIGINAL, original)
        models.generate_content_stream = astream
    else:

        def stream(*args: Any, **kwargs: Any) -> Any:
            call = _start(adapter, state, args, kwargs)
            if call is None:
                return original(*args, **kwargs)
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                _fail(call, exc)
                raise
            return adapter.wrap_result(call, result, False)

        setattr(stream, ORIGINAL, original)
        models.generate_content_stream = stream


def instrument(client: Any, defaults: Meta) -> Any:
    if rewrapped(client, defaults):
        return client
    state = State(defaults)
    state.info["provider"] = "vertex_ai" if getattr(client, "vertexai", False) else "gemini"
    for models, is_async in ((client.models, False), (client.aio.models, True)):
        patch(models, "generate_content", _Adapter("generate"), state, is_async)
        patch(models, "embed_content", _Adapter("embed"), state, is_async)
        _patch_stream(models, state, is_async)
    setattr(client, STATE_ATTR, state)
    return client
