"""``costobs.wrap(litellm)``: ``completion``, ``acompletion``, ``embedding``, ``aembedding``
(+ streaming). The provider comes from the routing prefix (``anthropic/claude-…``), the
``custom_llm_provider`` argument, or litellm's own ``_hidden_params``.

The module attributes are replaced, so call them as ``litellm.completion(...)``: a name
imported with ``from litellm import completion`` before ``wrap`` keeps the original.
"""

from __future__ import annotations

import weakref
from typing import Any

from costobs._context import Meta, effective
from costobs._event import Call
from costobs._observe import State, _end_stream, _on_item, complete, patch, status_of, unset
from costobs._usage import openai as oai_usage
from costobs._usage._common import g
from costobs.integrations._helpers import STATE_ATTR, rewrapped

MIN_VERSION = (1, 74)

# litellm provider names → CostObs provider identifiers
PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure",
    "azure_ai": "azure",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex_ai": "vertex_ai",
    "vertex_ai_beta": "vertex_ai",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "xai": "xai",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "openrouter": "openrouter",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}


def route(model: str, custom_provider: str | None = None) -> tuple[str | None, str]:
    """(provider, model) from litellm's ``provider/model`` routing string."""
    if custom_provider:
        return PROVIDERS.get(custom_provider, custom_provider), model
    prefix, slash, rest = model.partition("/")
    if slash and prefix in PROVIDERS:
        return PROVIDERS[prefix], rest
    return None, model


def _deferred_usage(call: Call, raw: Any, operation: str) -> None:
    call.usage = (
        oai_usage.embedding_usage(raw)
        if operation == "embedding"
        else chat_usage(call.provider, raw)
    )


def chat_usage(provider: str, raw: Any) -> dict[str, Any]:
    # litellm normalises every provider to OpenAI semantics (prompt includes cache reads
    # and writes, completion includes reasoning), so no per-provider quirk applies here.
    semantics = provider if provider in ("openai", "azure") else "litellm"
    return oai_usage.chat_usage(raw, semantics)[0]


class _StreamObserver:
    __slots__ = ("hide", "usage")

    def __init__(self, hide: bool) -> None:
        self.hide = hide
        self.usage: Any = None

    def on_item(self, call: Call, chunk: Any) -> bool:
        chunk_usage = getattr(chunk, "usage", None)
        if chunk_usage is not None and (
            g(chunk_usage, "prompt_tokens") or g(chunk_usage, "completion_tokens")
        ):
            self.usage = chunk_usage
            choices = getattr(chunk, "choices", None) or []
            empty = all(
                not g(g(c, "delta"), "content")
                and not g(g(c, "delta"), "tool_calls")
                and not g(c, "finish_reason")
                for c in choices
            )
            return self.hide and empty
        return False

    def on_end(self, call: Call) -> None:
        if self.usage is not None:
            call.defer(_deferred_usage, self.usage, "chat")


_SUBCLASSES: dict[type, type] = {}


def _observed_class(base: Any) -> type:
    cls = _SUBCLASSES.get(base)
    if cls is not None:
        return cls

    def __next__(self: Any) -> Any:
        call, observer = self.__costobs__
        while True:
            try:
                item = base.__next__(self)
            except StopIteration:
                _end_stream(call, observer, "ok", None)
                raise
            except BaseException as exc:
                _end_stream(call, observer, status_of(exc), exc)
                raise
            if not _on_item(call, observer, item):
                return item

    async def __anext__(self: Any) -> Any:
        call, observer = self.__costobs__
        while True:
            try:
                item = await base.__anext__(self)
            except StopAsyncIteration:
                _end_stream(call, observer, "ok", None)
                raise
            except BaseException as exc:
                _end_stream(call, observer, status_of(exc), exc)
                raise
            if not _on_item(call, observer, item):
                return item

    cls = type(
        base.__name__,
        (base,),
        {"__next__": __next__, "__anext__": __anext__, "__module__": base.__module__},
    )
    _SUBCLASSES[base] = cls
    return cls


class _Adapter:
    __slots__ = ("operation",)

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def start(
        self, state: State, args: tuple[Any, ...], kwargs: dict[str, Any], meta: Meta | None
    ) -> Call:
        model_arg = kwargs.get("model", args[0] if args else "")
        provider, model = route(str(model_arg or ""), kwargs.get("custom_llm_provider"))
        call = Call(provider or "", model, self.operation, effective(state.defaults, meta))
        if kwargs.get("stream") is True and self.operation == "chat":
            hide = unset(kwargs.get("stream_options"))
            if hide:
                kwargs["stream_options"] = {"include_usage": True}
            call.extra = _StreamObserver(hide)
        return call

    def finish(self, state: State, call: Call, result: Any) -> None:
        if not call.provider:
            hidden = getattr(result, "_hidden_params", None) or {}
            custom = hidden.get("custom_llm_provider") if isinstance(hidden, dict) else None
            call.provider = PROVIDERS.get(str(custom), str(custom)) if custom else "litellm"
        observer = call.extra
        if isinstance(observer, _StreamObserver):
            call.extra = None
            call.streaming = True
            result.__costobs__ = (call, observer)
            result.__class__ = _observed_class(type(result))
            weakref.finalize(result, _end_stream, call, observer, "cancelled", None)
            return
        if getattr(result, "model", None) and self.operation == "chat":
            call.model = route(str(result.model))[1]
        call.defer(_deferred_usage, getattr(result, "usage", None), self.operation)
        call.provider_request_id = getattr(result, "id", None)
        complete(call)


def instrument(module: Any, defaults: Meta) -> Any:
    if rewrapped(module, defaults):
        return module
    state = State(defaults)
    patch(module, "completion", _Adapter("chat"), state, False)
    patch(module, "acompletion", _Adapter("chat"), state, True)
    patch(module, "embedding", _Adapter("embedding"), state, False)
    patch(module, "aembedding", _Adapter("embedding"), state, True)
    setattr(module, STATE_ATTR, state)
    return module
