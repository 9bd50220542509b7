"""Attribution metadata and its three layers: wrap-time < request scope < per call.

The request scope lives in a ContextVar, so it survives ``await``, is copied into threads
started with ``contextvars.copy_context()`` and stays isolated between concurrent tasks.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

FIELDS: tuple[str, ...] = (
    "customer_id",
    "user_id",
    "trace_id",
    "feature",
    "team",
    "service",
    "environment",
    "prompt_key",
    "prompt_version",
)
_FIELD_SET = frozenset(FIELDS)
PER_CALL_TAGS = "costobs_tags"
"""Per-call keyword carrying free-form tags (other per-call keywords belong to the provider)."""
MAX_TAGS = 32
_MAX_TEXT = 256


class Meta:
    """An immutable layer of attribution: first-class fields and free-form tags."""

    __slots__ = ("fields", "tags")

    def __init__(self, fields: Mapping[str, str], tags: Mapping[str, str]) -> None:
        self.fields: Mapping[str, str] = fields
        self.tags: Mapping[str, str] = tags

    def over(self, top: Meta | None) -> Meta:
        """This layer with ``top`` laid over it (top wins)."""
        if top is None or (not top.fields and not top.tags):
            return self
        if not self.fields and not self.tags:
            return top
        return Meta({**self.fields, **top.fields}, _cap({**self.tags, **top.tags}))

    def __repr__(self) -> str:
        return f"Meta(fields={dict(self.fields)!r}, tags={dict(self.tags)!r})"


EMPTY = Meta({}, {})


def _cap(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) <= MAX_TAGS:
        return tags
    return dict(list(tags.items())[:MAX_TAGS])


def _text(value: object) -> str:
    return str(value)[:_MAX_TEXT]


def make_meta(values: Mapping[str, Any], tags: Mapping[str, Any] | None = None) -> Meta:
    """Fields from known names, every other name a tag; ``None`` means "not set here"."""
    out_fields: dict[str, str] = {}
    out_tags: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key in _FIELD_SET:
            text = _text(value)
            if text:
                out_fields[key] = text
        elif key == "tags" and isinstance(value, Mapping):
            out_tags.update({str(k): _text(v) for k, v in value.items() if v is not None})
        else:
            out_tags[key] = _text(value)
    if tags:
        out_tags.update({str(k): _text(v) for k, v in tags.items() if v is not None})
    if not out_fields and not out_tags:
        return EMPTY
    return Meta(out_fields, _cap(out_tags))


def pop_call_meta(kwargs: dict[str, Any]) -> Meta | None:
    """Remove per-call metadata keywords from a provider call's kwargs."""
    found: dict[str, Any] | None = None
    for key in FIELDS:
        if key in kwargs:
            if found is None:
                found = {}
            found[key] = kwargs.pop(key)
    tags = kwargs.pop(PER_CALL_TAGS, None)
    if found is None and tags is None:
        return None
    return make_meta(found or {}, tags if isinstance(tags, Mapping) else None)


_scope: ContextVar[Meta | None] = ContextVar("costobs_scope", default=None)
_call: ContextVar[Meta | None] = ContextVar("costobs_call", default=None)
"""Per-call metadata handed from a helper (e.g. ``.stream()``) to the call it makes."""


def current_scope() -> Meta | None:
    return _scope.get()


def effective(defaults: Meta, call: Meta | None) -> Meta:
    """The metadata of one call: wrap-time defaults < request scope < per call."""
    meta = defaults.over(_scope.get())
    inherited = _call.get()
    if inherited is not None:
        meta = meta.over(inherited)
    return meta.over(call)


def with_call_meta(fn: Callable[..., Any], meta: Meta) -> Callable[..., Any]:
    """``fn`` run with ``meta`` as per-call metadata (for helpers that call later)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        token = _call.set(meta)
        try:
            return fn(*args, **kwargs)
        finally:
            _call.reset(token)

    return run


P = ParamSpec("P")
R = TypeVar("R")


class request_context:
    """Attribution for every observed call inside the block (``with`` or ``async with``).

    The nine first-class fields are keywords; any other keyword (or ``tags={...}``) is a tag.
    Nested scopes layer: the inner one wins field by field.
    """

    __slots__ = ("_meta", "_tokens")

    def __init__(self, **metadata: Any) -> None:
        self._meta = make_meta(metadata)
        self._tokens: list[Token[Meta | None]] = []

    def __enter__(self) -> request_context:
        outer = _scope.get()
        self._tokens.append(_scope.set(outer.over(self._meta) if outer else self._meta))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _scope.reset(self._tokens.pop())

    async def __aenter__(self) -> request_context:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def trace(**metadata: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: run the function (sync or ``async def``) in ``request_context(**metadata)``."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):
            async_fn = cast(Callable[P, Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with request_context(**metadata):
                    return await async_fn(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with request_context(**metadata):
                return fn(*args, **kwargs)

        return run

    return decorate
