"""Metadata layering (wrap < request scope < per call) and context propagation."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import costobs
from costobs._context import EMPTY, effective, make_meta, pop_call_meta


def _fields() -> dict[str, str]:
    return dict(effective(EMPTY, None).fields)


def test_layers_later_wins_and_unknown_keywords_become_tags() -> None:
    defaults = make_meta({"team": "payments", "environment": "prod", "pr": "12"})
    kwargs = {
        "model": "m",
        "feature": "summarize",
        "prompt_version": "v3",
        "costobs_tags": {"exp": "b"},
    }
    call = pop_call_meta(kwargs)
    assert kwargs == {"model": "m"}  # per-call metadata removed before the provider call
    with costobs.request_context(customer_id="cust-42", team="search", feature="outer"):
        meta = effective(defaults, call)
    assert dict(meta.fields) == {
        "team": "search",
        "environment": "prod",
        "customer_id": "cust-42",
        "feature": "summarize",
        "prompt_version": "v3",
    }
    assert dict(meta.tags) == {"pr": "12", "exp": "b"}


def test_nested_scopes_and_exit_restore() -> None:
    with costobs.request_context(customer_id="a", trace_id="t1"):
        with costobs.request_context(customer_id="b"):
            assert _fields() == {"customer_id": "b", "trace_id": "t1"}
        assert _fields() == {"customer_id": "a", "trace_id": "t1"}
    assert _fields() == {}


async def test_async_context_survives_await_and_tasks_are_isolated() -> None:
    seen: dict[str, dict[str, str]] = {}

    async def job(name: str) -> None:
        async with costobs.request_context(customer_id=name):
            await asyncio.sleep(0.01)
            seen[name] = _fields()

    await asyncio.gather(job("x"), job("y"), job("z"))
    assert seen == {n: {"customer_id": n} for n in "xyz"}
    assert _fields() == {}


async def test_trace_decorator_sync_and_async() -> None:
    @costobs.trace(feature="search", team="discovery")
    def handle() -> dict[str, str]:
        return _fields()

    @costobs.trace(feature="chat")
    async def ahandle() -> dict[str, str]:
        await asyncio.sleep(0)
        return _fields()

    assert handle() == {"feature": "search", "team": "discovery"}
    assert await ahandle() == {"feature": "chat"}
    assert handle.__name__ == "handle"


def test_copied_context_reaches_threads() -> None:
    out: list[dict[str, str]] = []
    with costobs.request_context(user_id="u1"):
        ctx = contextvars.copy_context()
    thread = threading.Thread(target=lambda: out.append(ctx.run(_fields)))
    thread.start()
    thread.join()
    plain = threading.Thread(target=lambda: out.append(_fields()))
    plain.start()
    plain.join()
    assert out == [{"user_id": "u1"}, {}]
