"""OpenAI ``OpenAI``/``AsyncOpenAI`` (and OpenAI-compatible base URLs, Azure).

Seam: the resource methods on the client instance (``client.chat.completions.create``, …),
patched on that instance only. ``.stream()`` helpers call the patched ``create``; per-call
metadata given to them is carried into that call.
"""

from __future__ import annotations

import threading
from typing import Any

import openai
from openai._legacy_response import LegacyAPIResponse
from openai._response import APIResponse, AsyncAPIResponse

from costobs import _config, _pending
from costobs._context import Meta, effective, pop_call_meta
from costobs._event import Call
from costobs._guard import safe
from costobs._observe import (
    CURRENT,
    ORIGINAL,
    State,
    complete,
    observe_stainless_stream,
    patch,
    unset,
)
from costobs._usage import openai as usage
from costobs._usage._common import g
from costobs.integrations._helpers import (
    STATE_ATTR,
    bind_manager,
    model_text,
    observe_response,
    patch_copy,
    rewrapped,
)

MIN_VERSION = (1, 109)
_KEEP_MODEL = object()


def _provider(client: Any) -> str:
    if isinstance(client, openai.AzureOpenAI | openai.AsyncAzureOpenAI):
        return "azure"
    url = client.base_url
    extra = dict(_config.current().provider_hosts)
    return usage.provider_for_host(str(url.host), url.port, extra)


def _host(client: Any) -> str:
    url = client.base_url
    return usage.host_key(str(url.host), url.port, 443 if url.scheme == "https" else 80)


_REFUSED_LOCK = threading.Lock()
_REFUSED: set[str] = set()
"""Hosts that answered a streamed chat call with 400 naming ``stream_options``: never sent
again to them in this process (the refused call itself was retried once without it)."""


def _inject_usage(provider: str, host: str) -> bool:
    """Whether to add ``stream_options.include_usage`` to a streamed chat call to ``host``."""
    chosen = _config.current().include_usage_hosts.get(host)
    if chosen is not None:
        return chosen and host not in _REFUSED
    if provider in usage.INCLUDE_USAGE_PROVIDERS:
        return True
    return (
        provider == usage.GATEWAY_PROVIDER
        and usage.INCLUDE_USAGE_UNKNOWN_HOSTS
        and host not in _REFUSED
    )


def _see_headers(response: Any) -> None:
    """httpx response hook: a gateway named by a header, and its own cost (LiteLLM)."""
    call = CURRENT.get()
    if call is None or call.gateway_host is None:
        return
    streamed = response.headers.get("content-type", "").startswith("text/event-stream")
    gateway, cost = usage.gateway_from_headers(response.headers, streamed)
    if gateway is not None and call.gateway is None:
        call.gateway = gateway
    if cost is not None:
        call.provider_cost = cost


def _see_headers_sync(response: Any) -> None:
    safe(_see_headers, response)


async def _see_headers_async(response: Any) -> None:
    safe(_see_headers, response)


def _hook_headers(client: Any, is_async: bool) -> None:
    """Watch response headers on the client's own httpx client (idempotent)."""
    http: Any = getattr(client, "_client", None)
    hooks = getattr(http, "event_hooks", None)
    if not isinstance(hooks, dict):
        return
    hook = _see_headers_async if is_async else _see_headers_sync
    response_hooks = hooks.setdefault("response", [])
    if hook not in response_hooks:
        response_hooks.append(hook)
        http.event_hooks = hooks


class _ChatObserver:
    """Chat/legacy completion chunks: latest usage (Groq: ``x_groq``); hide the injected one."""

    __slots__ = ("hide", "keep_model", "provider", "seen", "usage")

    def __init__(self, provider: str, hide: bool, keep_model: bool) -> None:
        self.provider = provider
        self.hide = hide
        self.keep_model = keep_model
        self.seen = False
        self.usage: Any = None

    def on_item(self, call: Call, chunk: Any) -> bool:
        # Hot per-chunk path: plain field reads only (extra-field lookups raise inside pydantic).
        if not self.seen:
            self.seen = True
            model = getattr(chunk, "model", None)
            if model and not self.keep_model:
                call.model = model
            tier = getattr(chunk, "service_tier", None)
            if tier:
                call.service_tier = tier
        chunk_usage = getattr(chunk, "usage", None)
        if chunk_usage is None and self.provider == "groq":
            chunk_usage = g(g(chunk, "x_groq"), "usage")
        if chunk_usage is not None:
            self.usage = chunk_usage
            return self.hide and not chunk.choices
        return False

    def on_end(self, call: Call) -> None:
        if self.usage is not None:
            call.defer(_chat_usage, self.usage)


class _ResponsesObserver:
    """Responses streaming: usage arrives on the final event's ``response``."""

    __slots__ = ("final",)

    def __init__(self) -> None:
        self.final: Any = None

    def on_item(self, call: Call, event: Any) -> bool:
        kind = getattr(event, "type", "")
        response = getattr(event, "response", None)
        if response is not None and getattr(response, "model", None):
            call.model = response.model
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = event
        elif kind == "error":
            call.error_type = str(getattr(event, "code", None) or "error")
            self.final = self.final or event
        return False

    def on_end(self, call: Call) -> None:
        if self.final is None:
            return
        kind = getattr(self.final, "type", "")
        response = getattr(self.final, "response", None)
        if response is not None:
            _fill_response(call, response)
        if kind in ("response.failed", "error"):
            call.status = "error"
            err = g(g(response, "error"), "code")
            call.error_type = str(err or call.error_type or "response.failed")


class _LastUsageObserver:
    """Image and transcription streams: the final event carries ``usage``."""

    __slots__ = ("kind", "usage")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.usage: Any = None

    def on_item(self, call: Call, event: Any) -> bool:
        if getattr(event, "usage", None) is not None:
            self.usage = event
        return False

    def on_end(self, call: Call) -> None:
        if self.usage is None:
            return
        if self.kind == "image":
            call.usage = usage.image_usage(self.usage)
        else:
            call.usage = usage.transcription_usage(self.usage.usage)


def _chat_usage(call: Call, raw: Any) -> None:
    call.usage, cost = usage.chat_usage(raw, call.provider)
    if cost is not None:  # else keep a gateway's cost from its response header
        call.provider_cost = cost


def _responses_usage(call: Call, raw: Any, tool_usage: Any) -> None:
    call.usage = usage.responses_usage(raw, tool_usage)


def _fill_response(call: Call, response: Any) -> None:
    if getattr(response, "model", None):
        call.model = response.model
    call.defer(
        _responses_usage, getattr(response, "usage", None), getattr(response, "tool_usage", None)
    )
    call.service_tier = getattr(response, "service_tier", None) or call.service_tier
    call.provider_request_id = getattr(response, "id", None)


class _Adapter:
    __slots__ = ("is_async", "kind", "operation")

    def __init__(self, kind: str, operation: str, is_async: bool) -> None:
        self.kind = kind
        self.operation = operation
        self.is_async = is_async

    def start(
        self, state: State, args: tuple[Any, ...], kwargs: dict[str, Any], meta: Meta | None
    ) -> Call:
        provider: str = state.info["provider"]
        model = model_text(kwargs.get("model"))
        keep_model = False
        if provider == "azure":
            # The model argument is a deployment name: configured aliases win over the
            # model the response reports.
            model = model or state.info.get("deployment") or ""
            aliases = _config.current().model_aliases
            keep_model = model in aliases
            model = aliases.get(model, model)
        elif not model and self.kind == "image":
            model = "dall-e-2"
        call = Call(provider, model, self.operation, effective(state.defaults, meta))
        host: str = state.info["host"]
        if provider == usage.GATEWAY_PROVIDER:
            call.gateway_host = host
            call.gateway = state.info["gateway"]
        tier = kwargs.get("service_tier")
        if not unset(tier) and tier != "auto":
            call.service_tier = str(tier)
        if kwargs.get("stream") is True and self.kind in ("chat", "completion"):
            hide = False
            if unset(kwargs.get("stream_options")) and _inject_usage(provider, host):
                kwargs["stream_options"] = {"include_usage": True}
                hide = True
            call.extra = _ChatObserver(provider, hide, keep_model)
        elif self.kind == "speech":
            call.usage = usage.speech_usage(kwargs.get("input"))
        elif self.kind == "image":
            call.extra = (
                model_text(kwargs.get("size")) or None,
                model_text(kwargs.get("quality")) or None,
            )
        elif keep_model:
            call.extra = _KEEP_MODEL
        return call

    def retry(self, state: State, call: Call, kwargs: dict[str, Any], exc: BaseException) -> bool:
        """A gateway refusing the injected ``stream_options``: remember the host, and make
        the caller's call once more exactly as they wrote it."""
        observer = call.extra
        if not isinstance(observer, _ChatObserver) or not observer.hide:
            return False
        if not usage.rejects_stream_options(getattr(exc, "status_code", None), str(exc)):
            return False
        host: str = state.info["host"]
        with _REFUSED_LOCK:
            _REFUSED.add(host)
        del kwargs["stream_options"]
        observer.hide = False
        return True

    def finish(self, state: State, call: Call, result: Any) -> None:
        if isinstance(result, openai.Stream | openai.AsyncStream):
            observer: Any
            if isinstance(call.extra, _ChatObserver):
                observer, call.extra = call.extra, None
            elif self.kind == "responses":
                observer = _ResponsesObserver()
            else:
                observer = _LastUsageObserver(self.kind)
            observe_stainless_stream(result, call, observer, self.is_async)
            return
        if isinstance(result, APIResponse | AsyncAPIResponse):
            observe_response(result, call, lambda parsed: self.finish(state, call, parsed))
            return
        if isinstance(result, LegacyAPIResponse):
            # ``with_raw_response``: parse() is cached by the response, so the caller's own
            # parse() returns the very same object afterwards.
            result = result.parse()
            if isinstance(result, openai.Stream | openai.AsyncStream):
                self.finish(state, call, result)
                return
        if self.kind == "responses" and getattr(result, "status", None) in _WAITING:
            # background=True: queued now, the usage comes when the response is retrieved
            response_id = getattr(result, "id", None)
            if isinstance(response_id, str):
                call.model = getattr(result, "model", None) or call.model
                call.provider_request_id = response_id
                call.stop_clock()
                _pending.add(response_id, call)
                return
        self.fill(state, call, result)
        complete(call)

    def fill(self, state: State, call: Call, result: Any) -> None:
        kind = self.kind
        if kind in ("chat", "completion"):
            if getattr(result, "model", None) and call.extra is not _KEEP_MODEL:
                call.model = result.model
            call.extra = None
            call.defer(_chat_usage, getattr(result, "usage", None))
            call.service_tier = getattr(result, "service_tier", None) or call.service_tier
            call.provider_request_id = getattr(result, "id", None)
        elif kind == "responses":
            _fill_response(call, result)
        elif kind == "embedding":
            if getattr(result, "model", None):
                call.model = result.model
            call.defer(_embedding_usage, getattr(result, "usage", None))
        elif kind == "image":
            size, quality = call.extra or (None, None)
            call.extra = None
            call.usage = usage.image_usage(result, size, quality)
        elif kind == "transcription":
            call.usage = usage.transcription_usage(getattr(result, "usage", None))


def _embedding_usage(call: Call, raw: Any) -> None:
    call.usage = usage.embedding_usage(raw)


_WAITING = frozenset({"queued", "in_progress"})
_FINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})


def _settle_background(
    args: tuple[Any, ...], kwargs: dict[str, Any], result: Any, aio: bool
) -> None:
    """``responses.retrieve`` / ``cancel`` (and ``responses.stream(response_id=…)``, which
    retrieves with ``stream=True``): ship a pending background call once its response is
    final, with the usage it reports."""
    response_id = args[0] if args else kwargs.get("response_id")
    if not isinstance(response_id, str):
        return
    if isinstance(result, LegacyAPIResponse):
        result = result.parse()
    if isinstance(result, openai.Stream | openai.AsyncStream):
        call = _pending.take(response_id)
        if call is not None:
            observe_stainless_stream(result, call, _ResponsesObserver(), aio)
        return
    if getattr(result, "status", None) not in _FINAL:
        return
    call = _pending.take(response_id)
    if call is None:
        return
    _fill_response(call, result)
    if result.status == "failed":
        call.status = "error"
        call.error_type = str(g(g(result, "error"), "code") or "response.failed")
    complete(call)


def _settling(original: Any, aio: bool) -> Any:
    """Wrap ``retrieve``/``cancel``: the caller's call is untouched; settling never raises."""
    if aio:

        async def observed_async(*args: Any, **kwargs: Any) -> Any:
            result = await original(*args, **kwargs)
            safe(_settle_background, args, kwargs, result, True)
            return result

        setattr(observed_async, ORIGINAL, original)
        return observed_async

    def observed(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        safe(_settle_background, args, kwargs, result, False)
        return result

    setattr(observed, ORIGINAL, original)
    return observed


class _StreamHelper:
    """``.stream()`` helpers: strip per-call metadata and carry it into their ``create``."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        meta = pop_call_meta(kwargs) if kwargs else None
        manager = self.original(*args, **kwargs)
        safe(bind_manager, manager, meta)
        return manager


# resource path, method, adapter kind, operation
_METHODS: tuple[tuple[str, str, str, str], ...] = (
    ("chat.completions", "create", "chat", "chat"),
    ("chat.completions", "parse", "chat", "chat"),
    ("beta.chat.completions", "parse", "chat", "chat"),
    ("completions", "create", "completion", "completion"),
    ("responses", "create", "responses", "responses"),
    ("responses", "parse", "responses", "responses"),
    ("embeddings", "create", "embedding", "embedding"),
    ("images", "generate", "image", "image"),
    ("images", "edit", "image", "image"),
    ("images", "create_variation", "image", "image"),
    ("audio.transcriptions", "create", "transcription", "audio_transcription"),
    ("audio.translations", "create", "transcription", "audio_translation"),
    ("audio.speech", "create", "speech", "audio_speech"),
)
_HELPERS = (
    ("chat.completions", "stream"),
    ("beta.chat.completions", "stream"),
    ("responses", "stream"),
)


def _resource(client: Any, path: str) -> Any:
    obj = client
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except Exception:
            return None
    return obj


def instrument(client: Any, defaults: Meta) -> Any:
    if rewrapped(client, defaults):
        return client
    state = State(defaults)
    state.info["provider"] = _provider(client)
    state.info["deployment"] = getattr(client, "_azure_deployment", None)
    state.info["host"] = _host(client)
    state.info["gateway"] = usage.gateway_for_host(str(client.base_url.host))
    is_async = isinstance(client, openai.AsyncOpenAI)
    if state.info["provider"] == usage.GATEWAY_PROVIDER:
        _hook_headers(client, is_async)
    for path, method, kind, operation in _METHODS:
        resource = _resource(client, path)
        if resource is not None and hasattr(resource, method):
            patch(resource, method, _Adapter(kind, operation, is_async), state, is_async)
    responses = _resource(client, "responses")
    for method in ("retrieve", "cancel"):
        original = getattr(responses, method, None) if responses is not None else None
        if original is not None and not hasattr(original, ORIGINAL):
            setattr(responses, method, _settling(original, is_async))
    for path, method in _HELPERS:
        resource = _resource(client, path)
        original = getattr(resource, method, None) if resource is not None else None
        if original is not None and not isinstance(original, _StreamHelper):
            setattr(resource, method, _StreamHelper(original))
    patch_copy(client, state, instrument)
    setattr(client, STATE_ATTR, state)
    return client
