"""``boto3.client("bedrock-runtime")``: ``converse`` and ``converse_stream``.

ConverseStream usage arrives in the ``metadata`` event; the ``EventStream`` object handed to
the caller is the same one, its raw event generator and parser observed in place.
"""

from __future__ import annotations

import weakref
from typing import Any

from costobs import _config
from costobs._context import Meta, effective
from costobs._event import Call
from costobs._observe import State, complete, observe_iter, patch
from costobs._usage import bedrock as usage
from costobs._usage._common import g
from costobs.integrations._helpers import STATE_ATTR, rewrapped

MIN_VERSION = (1, 38)


def is_bedrock_runtime(client: Any) -> bool:
    meta = getattr(client, "meta", None)
    service = getattr(getattr(meta, "service_model", None), "service_name", None)
    return service == "bedrock-runtime"


def _fill(call: Call, body: Any) -> None:
    call.defer(_usage, g(body, "usage"), g(g(body, "serviceTier"), "type"))


def _usage(call: Call, raw: Any, tier: Any) -> None:
    call.usage = usage.converse_usage(raw)
    if tier:
        call.service_tier = str(tier)


class _StreamObserver:
    __slots__ = ("metadata",)

    def __init__(self) -> None:
        self.metadata: Any = None

    def on_item(self, call: Call, item: Any) -> bool:
        return False

    def on_parsed(self, call: Call, event: Any) -> None:
        if isinstance(event, dict) and "metadata" in event:
            self.metadata = event["metadata"]

    def on_end(self, call: Call) -> None:
        if self.metadata is not None:
            _fill(call, self.metadata)


class _Adapter:
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def start(
        self, state: State, args: tuple[Any, ...], kwargs: dict[str, Any], meta: Meta | None
    ) -> Call:
        model_id = str(kwargs.get("modelId") or "")
        model, geo = usage.resolve_model(model_id, _config.current().model_aliases)
        call = Call("bedrock", model, "chat", effective(state.defaults, meta))
        call.region = geo or state.info.get("region")
        return call

    def finish(self, state: State, call: Call, result: Any) -> None:
        call.provider_request_id = g(g(result, "ResponseMetadata"), "RequestId")
        if self.kind == "converse":
            _fill(call, result)
            complete(call)
            return
        stream = result.get("stream") if isinstance(result, dict) else None
        if stream is None:
            complete(call)
            return
        call.streaming = True
        observer = _StreamObserver()
        stream._event_generator = observe_iter(stream._event_generator, call, observer)
        cls_parse = type(stream)._parse_event
        ref = weakref.ref(stream)

        def parse_event(event: Any) -> Any:
            target = ref()
            try:
                parsed = cls_parse(target, event)
            except Exception as exc:
                call.status = "error"
                call.error_type = type(exc).__name__
                raise
            try:
                observer.on_parsed(call, parsed)
            except Exception as exc:  # pragma: no cover - defensive
                from costobs._guard import report

                report(exc)
            return parsed

        stream._parse_event = parse_event


def instrument(client: Any, defaults: Meta) -> Any:
    if rewrapped(client, defaults):
        return client
    state = State(defaults)
    state.info["region"] = getattr(client.meta, "region_name", None)
    patch(client, "converse", _Adapter("converse"), state, False)
    patch(client, "converse_stream", _Adapter("converse_stream"), state, False)
    setattr(client, STATE_ATTR, state)
    return client
