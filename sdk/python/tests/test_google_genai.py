"""google-genai Client through the real package, HTTP served by a loopback fake."""

from __future__ import annotations

from typing import Any

import costobs
import pytest
from _fakes import BROKEN_STREAM, FakeProvider, Reply, json_reply, sse
from google import genai
from google.genai import types

USAGE = {
    "promptTokenCount": 12000,
    "cachedContentTokenCount": 8000,
    "candidatesTokenCount": 300,
    "thoughtsTokenCount": 700,
    "toolUsePromptTokenCount": 40,
    "totalTokenCount": 13040,
    "promptTokensDetails": [
        {"modality": "TEXT", "tokenCount": 11000},
        {"modality": "AUDIO", "tokenCount": 1000},
    ],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 8000}],
}
NORMALISED = {
    "input_tokens": 3040,
    "cached_input_tokens": 8000,
    "audio_input_tokens": 1000,
    "output_tokens": 1000,
    "reasoning_tokens": 700,
}


def response(usage: dict[str, Any] | None = USAGE, text: str = "hi") -> dict[str, Any]:
    body: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
        "modelVersion": "gemini-2.5-pro",
        "responseId": "r-1",
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


def stream_reply(abort: bool = False) -> Reply:
    partial = {"promptTokenCount": 12000, "cachedContentTokenCount": 8000, "totalTokenCount": 12000}
    chunks = [
        (None, response(partial, "Hel")),
        (None, response({**partial, "candidatesTokenCount": 100}, "lo")),
        (None, response(USAGE, "!")),
    ]
    if abort:
        return Reply(200, sse(chunks[:1]), {"Content-Type": "text/event-stream"}, abort=True)
    return Reply(200, sse(chunks), {"Content-Type": "text/event-stream"})


def client(provider: FakeProvider, **defaults: Any) -> Any:
    options: dict[str, Any] = {"base_url": provider.url}
    if "retry_options" in types.HttpOptions.model_fields:
        options["retry_options"] = None  # no client-side retries of scripted failures
    raw = genai.Client(api_key="g-test", http_options=types.HttpOptions(**options))
    return costobs.wrap(raw, **defaults)


def test_generate_content_cached_thoughts_audio(provider: FakeProvider, receiver: Any) -> None:
    from _fakes import shipped

    provider.replies = [json_reply(response())]
    c = client(provider, team="g")
    result = c.models.generate_content(model="gemini-2.5-pro", contents="x", feature="summ")
    assert result.text == "hi"
    assert ":generateContent" in provider.requests[0]["path"]
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED
    assert (event["provider"], event["model"], event["feature"], event["team"]) == (
        "gemini",
        "gemini-2.5-pro",
        "summ",
        "g",
    )


def test_generate_content_stream_uses_last_usage(provider: FakeProvider, receiver: Any) -> None:
    from _fakes import shipped

    provider.replies = [stream_reply()]
    c = client(provider)
    text = "".join(
        ch.text
        for ch in c.models.generate_content_stream(model="models/gemini-2.5-pro", contents="x")
    )
    assert text == "Hello!"
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED and event["streaming"] is True and event["status"] == "ok"


def test_interrupted_stream_reports_error_with_partial_usage(
    provider: FakeProvider, receiver: Any
) -> None:
    from _fakes import shipped

    provider.replies = [stream_reply(abort=True)]
    c = client(provider)
    with pytest.raises(BROKEN_STREAM):  # the transport's error, untouched
        for _ in c.models.generate_content_stream(model="gemini-2.5-pro", contents="x"):
            pass
    (event,) = shipped(receiver, 1)
    assert event["status"] == "error" and event["usage"] == {
        "input_tokens": 4000,
        "cached_input_tokens": 8000,
    }


async def test_async_generate_and_stream(provider: FakeProvider, receiver: Any) -> None:
    from _fakes import shipped

    provider.replies = [json_reply(response()), stream_reply()]
    c = client(provider)
    async with costobs.request_context(customer_id="g1"):
        await c.aio.models.generate_content(model="gemini-2.5-pro", contents="x")
        chunks = [
            ch
            async for ch in await c.aio.models.generate_content_stream(
                model="gemini-2.5-pro", contents="x"
            )
        ]
    assert len(chunks) == 3
    events = shipped(receiver, 2)
    assert all(e["usage"] == NORMALISED and e["customer_id"] == "g1" for e in events)


def test_embed_content(provider: FakeProvider, receiver: Any) -> None:
    from _fakes import shipped

    provider.handler = lambda method, path, body: json_reply(
        {"embeddings": [{"values": [0.1, 0.2]}], "usageMetadata": {"promptTokenCount": 9}}
        if "batchEmbedContents" in path or "embedContent" in path
        else {}
    )
    c = client(provider)
    result = c.models.embed_content(model="gemini-embedding-001", contents="hello")
    assert result.embeddings and result.embeddings[0].values == [0.1, 0.2]
    (event,) = shipped(receiver, 1)
    assert (event["operation"], event["model"]) == ("embedding", "gemini-embedding-001")
    if "usage_metadata" in types.EmbedContentResponse.model_fields:
        assert event["usage"] == {"input_tokens": 9}
    else:  # older google-genai does not parse embedding usage at all
        assert event["usage"] == {}
