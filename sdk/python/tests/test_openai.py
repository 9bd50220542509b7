"""openai.OpenAI / AsyncOpenAI through the real package, HTTP served by a loopback fake."""

from __future__ import annotations

import gc
import json
from typing import Any

import costobs
import costobs.integrations.openai
import openai
import pydantic
import pytest
from _fakes import BROKEN_STREAM, FakeProvider, Reply, json_reply, shipped, sse_reply

USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 50},
    "completion_tokens_details": {"reasoning_tokens": 200, "audio_tokens": 20},
}
NORMALISED = {
    "input_tokens": 150,
    "cached_input_tokens": 1000,
    "audio_input_tokens": 50,
    "output_tokens": 280,
    "reasoning_tokens": 200,
    "audio_output_tokens": 20,
}


def completion(
    usage: dict[str, Any] = USAGE, model: str = "gpt-4o-2024-08-06", content: str = "hi"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": usage,
    }


def chunk(
    delta: dict[str, Any] | None,
    usage: dict[str, Any] | None = None,
    finish: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": choices,
        "usage": usage,
        **extra,
    }


def chat_stream(with_usage: bool = True, abort: bool = False) -> Reply:
    events: list[tuple[str | None, Any]] = [
        (None, chunk({"role": "assistant", "content": ""})),
        (None, chunk({"content": "Hel"})),
        (None, chunk({"content": "lo"}, finish="stop")),
    ]
    if abort:
        return sse_reply(events[:2], abort=True)
    if with_usage:
        events.append((None, chunk(None, USAGE)))
    events.append((None, "[DONE]"))
    return sse_reply(events)


def client(
    provider: FakeProvider, name: str = "openai", is_async: bool = False, **defaults: Any
) -> Any:
    costobs.configure(
        provider_hosts={f"127.0.0.1:{provider.port}": name},
        ingest_url=costobs_ingest(),
        api_key="test-key",
        flush_interval=0.05,
    )
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return costobs.wrap(
        cls(api_key="sk-test", base_url=provider.url + "/v1", max_retries=0), **defaults
    )


def costobs_ingest() -> str:
    from costobs import _config

    return _config.current().ingest_url


def test_chat_create_metadata_layers_and_usage(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(completion())]
    c = client(provider, team="payments", environment="prod", pr="1234")
    with costobs.request_context(customer_id="cust-42", trace_id="trace-abc", team="search"):
        result = c.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            feature="summarize",
            prompt_version="v3",
        )
    assert result.choices[0].message.content == "hi"
    sent = provider.json_body()
    assert "feature" not in sent and "prompt_version" not in sent and sent["model"] == "gpt-4o"
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED
    assert (event["provider"], event["model"], event["operation"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        "chat",
    )
    assert (event["team"], event["environment"], event["customer_id"], event["trace_id"]) == (
        "search",
        "prod",
        "cust-42",
        "trace-abc",
    )
    assert (event["feature"], event["prompt_version"], event["tags"]) == (
        "summarize",
        "v3",
        {"pr": "1234"},
    )
    assert event["service_tier"] == "default" and event["provider_request_id"] == "chatcmpl-1"
    assert event["status"] == "ok" and event["streaming"] is False


def test_wrap_is_idempotent(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(completion())]
    c = client(provider, team="a")
    assert costobs.wrap(c, team="b") is c
    c.chat.completions.create(model="gpt-4o", messages=[])
    (event,) = shipped(receiver, 1)
    assert event["team"] == "b"


def test_provider_error_reaches_caller_untouched_and_is_recorded(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [
        json_reply({"error": {"message": "slow down", "type": "rate_limit"}}, status=429)
    ]
    c = client(provider)
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="gpt-4o", messages=[])
    assert info.value.status_code == 429
    (event,) = shipped(receiver, 1)
    assert (event["status"], event["error_type"], event["usage"]) == (
        "error",
        "RateLimitError:429",
        {},
    )


def test_stream_injects_include_usage_and_hides_the_usage_chunk(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [chat_stream()]
    c = client(provider)
    chunks = list(
        c.chat.completions.create(model="gpt-4o", messages=[], stream=True, customer_id="c9")
    )
    assert provider.json_body()["stream_options"] == {"include_usage": True}
    assert "customer_id" not in provider.json_body()
    assert [ch.choices[0].delta.content for ch in chunks] == [
        "",
        "Hel",
        "lo",
    ]  # no usage-only chunk
    (event,) = shipped(receiver, 1)
    assert (
        event["usage"] == NORMALISED and event["streaming"] is True and event["customer_id"] == "c9"
    )
    assert event["time_to_first_token_ms"] >= 0 and event["status"] == "ok"


def test_stream_caller_asked_for_usage_sees_the_chunk(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [chat_stream()]
    c = client(provider)
    chunks = list(
        c.chat.completions.create(
            model="gpt-4o", messages=[], stream=True, stream_options={"include_usage": True}
        )
    )
    assert len(chunks) == 4 and chunks[-1].usage.prompt_tokens == 1200
    assert shipped(receiver, 1)[0]["usage"] == NORMALISED


def test_interrupted_stream_emits_one_error_event(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [chat_stream(abort=True)]
    c = client(provider)
    seen = []
    # openai 3.x wraps the broken stream in its own APIConnectionError; older ones let it through
    with pytest.raises((openai.APIConnectionError, *BROKEN_STREAM)) as info:
        for ch in c.chat.completions.create(model="gpt-4o", messages=[], stream=True):
            seen.append(ch)
    assert len(seen) == 2 and not isinstance(info.value, costobs.CostObsError)
    (event,) = shipped(receiver, 1)
    assert event["status"] == "error" and event["usage"] == {} and event["streaming"] is True


def test_stream_closed_early_is_cancelled(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [chat_stream()]
    c = client(provider)
    with c.chat.completions.create(model="gpt-4o", messages=[], stream=True) as stream:
        next(iter(stream))
    (event,) = shipped(receiver, 1)
    assert event["status"] == "cancelled"


class Answer(pydantic.BaseModel):
    text: str


def test_parse_and_stream_helpers(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(completion(content=json.dumps({"text": "ok"}))), chat_stream()]
    c = client(provider)
    parsed = c.chat.completions.parse(
        model="gpt-4o", messages=[], response_format=Answer, feature="parse"
    )
    assert parsed.choices[0].message.parsed == Answer(text="ok")
    with c.chat.completions.stream(model="gpt-4o", messages=[], feature="helper") as stream:
        text = "".join(e.delta for e in stream if e.type == "content.delta")
    assert text == "Hello"
    assert provider.json_body()["stream_options"] == {"include_usage": True}
    del stream
    events = sorted(shipped(receiver, 2), key=lambda e: e["feature"])
    assert [e["feature"] for e in events] == ["helper", "parse"]
    assert all(e["usage"] == NORMALISED for e in events)
    assert events[0]["streaming"] is True and events[0]["status"] == "ok"


async def test_async_chat_and_stream(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(completion()), chat_stream()]
    c = client(provider, is_async=True)
    async with costobs.request_context(customer_id="async"):
        await c.chat.completions.create(model="gpt-4o", messages=[])
        stream = await c.chat.completions.create(model="gpt-4o", messages=[], stream=True)
        chunks = [ch async for ch in stream]
    assert len(chunks) == 3
    events = shipped(receiver, 2)
    assert all(e["usage"] == NORMALISED and e["customer_id"] == "async" for e in events)
    assert sorted(e["streaming"] for e in events) == [False, True]


RESPONSE_USAGE = {
    "input_tokens": 5000,
    "input_tokens_details": {
        "cached_tokens": 3000,
        "cache_write_tokens": 1500,
        "cache_write_tokens_details": {"ttl_30m_tokens": 500, "ttl_12h_tokens": 1000},
    },
    "output_tokens": 900,
    "output_tokens_details": {"reasoning_tokens": 600},
    "total_tokens": 5900,
}
RESPONSE_NORMALISED = {
    "input_tokens": 500,
    "cached_input_tokens": 3000,
    "cache_write_30m_tokens": 500,
    "cache_write_12h_tokens": 1000,
    "output_tokens": 900,
    "reasoning_tokens": 600,
    "web_search_requests": 2,
}


def response(status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-5-2026-01-01",
        "status": status,
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "service_tier": "flex",
        "usage": RESPONSE_USAGE,
        "tool_usage": {"web_search": {"num_requests": 2}},
    }


def created_then_completed(done: dict[str, Any]) -> Any:
    """A Responses stream: created (in progress, no usage yet), then ``done``."""
    created = {**response("in_progress"), "usage": None}
    return sse_reply(
        [
            (
                "response.created",
                {"type": "response.created", "sequence_number": 0, "response": created},
            ),
            (
                "response.completed",
                {"type": "response.completed", "sequence_number": 1, "response": done},
            ),
        ]
    )


def background(status: str) -> Any:
    body = {**response(status), "background": True}
    if status in ("queued", "in_progress"):
        body["usage"] = None
    return json_reply(body)


def test_background_response_is_recorded_when_retrieved_final(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [
        background("queued"),
        background("in_progress"),
        background("completed"),
        background("completed"),
    ]
    c = client(provider)
    created = c.responses.create(model="gpt-5", input="x", background=True, feature="bg")
    assert created.status == "queued"
    assert shipped(receiver) == []  # no usage yet: nothing recorded with $0
    assert c.responses.retrieve("resp_1").status == "in_progress"
    assert shipped(receiver) == []
    assert c.responses.retrieve("resp_1").status == "completed"
    (event,) = shipped(receiver, 1)
    assert event["usage"] == RESPONSE_NORMALISED and event["feature"] == "bg"
    assert (event["model"], event["provider_request_id"], event["status"]) == (
        "gpt-5-2026-01-01",
        "resp_1",
        "ok",
    )
    assert event["cost_usd"] != "0"
    c.responses.retrieve("resp_1")  # another retrieve of a settled response: nothing more
    assert len(shipped(receiver)) == 1


def test_background_response_streamed_by_id(provider: FakeProvider, receiver: Any) -> None:
    done = response("completed")
    provider.replies = [
        background("queued"),
        created_then_completed(done),
    ]
    c = client(provider)
    c.responses.create(model="gpt-5", input="x", background=True)
    with c.responses.stream(response_id="resp_1") as stream:
        kinds = [e.type for e in stream]
    assert kinds == ["response.created", "response.completed"]
    assert provider.requests[-1]["path"].startswith("/v1/responses/resp_1")
    (event,) = shipped(receiver, 1)
    assert event["usage"] == RESPONSE_NORMALISED


def test_background_response_never_retrieved_ships_at_shutdown_without_tokens(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [background("queued")]
    c = client(provider)
    c.responses.create(model="gpt-5", input="x", background=True)
    assert shipped(receiver) == []
    assert costobs.shutdown(5.0)
    (event,) = receiver.events
    assert event["usage"] == {} and event["provider_request_id"] == "resp_1"


async def test_async_background_response(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [background("queued"), background("failed")]
    c = client(provider, is_async=True)
    await c.responses.create(model="gpt-5", input="x", background=True)
    assert (await c.responses.retrieve("resp_1")).status == "failed"
    (event,) = shipped(receiver, 1)
    assert event["status"] == "error" and event["usage"] == RESPONSE_NORMALISED


@pytest.mark.parametrize(
    ("final", "status"),
    [("response.completed", "ok"), ("response.incomplete", "ok"), ("response.failed", "error")],
)
def test_responses_stream_usage_from_final_event(
    provider: FakeProvider, receiver: Any, final: str, status: str
) -> None:
    created = {**response("in_progress"), "usage": None}
    done = response(
        {
            "response.completed": "completed",
            "response.incomplete": "incomplete",
            "response.failed": "failed",
        }[final]
    )
    provider.replies = [
        sse_reply(
            [
                (
                    "response.created",
                    {"type": "response.created", "sequence_number": 0, "response": created},
                ),
                (
                    "response.output_text.delta",
                    {
                        "type": "response.output_text.delta",
                        "sequence_number": 1,
                        "item_id": "m",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": "hi",
                        "logprobs": [],
                    },
                ),
                (final, {"type": final, "sequence_number": 2, "response": done}),
            ]
        )
    ]
    c = client(provider)
    events_seen = [e.type for e in c.responses.create(model="gpt-5", input="x", stream=True)]
    assert events_seen[-1] == final
    assert "stream_options" not in provider.json_body()
    (event,) = shipped(receiver, 1)
    assert event["usage"] == RESPONSE_NORMALISED and event["status"] == status
    assert (event["operation"], event["model"], event["service_tier"]) == (
        "responses",
        "gpt-5-2026-01-01",
        "flex",
    )


def test_responses_create_and_stream_helper(provider: FakeProvider, receiver: Any) -> None:
    done = response()
    provider.replies = [
        json_reply(done),
        created_then_completed(done),
    ]
    c = client(provider)
    assert c.responses.create(model="gpt-5", input="x", feature="plain").id == "resp_1"
    with c.responses.stream(model="gpt-5", input="x", feature="helper") as stream:
        final = stream.get_final_response()
    assert final.id == "resp_1"
    del stream
    events = shipped(receiver, 2)
    assert sorted(e["feature"] for e in events) == ["helper", "plain"]
    assert all(e["usage"] == RESPONSE_NORMALISED for e in events)


def test_embeddings_images_audio(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [
        json_reply(
            {
                "object": "list",
                "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                "usage": {"prompt_tokens": 42, "total_tokens": 42},
            }
        ),
        json_reply(
            {"created": 1, "data": [{"url": "https://x/1.png"}, {"url": "https://x/2.png"}]}
        ),
        json_reply(
            {
                "created": 1,
                "data": [{"b64_json": "AA=="}],
                "size": "1024x1024",
                "quality": "high",
                "usage": {
                    "input_tokens": 60,
                    "input_tokens_details": {"text_tokens": 50, "image_tokens": 10},
                    "output_tokens": 4160,
                    "total_tokens": 4220,
                },
            }
        ),
        json_reply(
            {
                "text": "hello",
                "usage": {
                    "type": "tokens",
                    "input_tokens": 120,
                    "input_token_details": {"audio_tokens": 100, "text_tokens": 20},
                    "output_tokens": 30,
                    "total_tokens": 150,
                },
            }
        ),
        json_reply({"text": "hello", "usage": {"type": "duration", "seconds": 12.5}}),
        Reply(200, b"ID3fakeaudio", {"Content-Type": "audio/mpeg"}),
    ]
    c = client(provider)
    c.embeddings.create(model="text-embedding-3-small", input="x")
    c.images.generate(model="dall-e-3", prompt="cat", size="1024x1792", quality="hd", n=2)
    c.images.generate(model="gpt-image-1", prompt="cat")
    c.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", b"RIFF"))
    c.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"))
    audio = c.audio.speech.create(model="tts-1", voice="alloy", input="Hello there")
    assert audio.content == b"ID3fakeaudio"
    by_model = {e["model"]: e for e in shipped(receiver, 6)}
    assert by_model["text-embedding-3-small"]["usage"] == {"input_tokens": 42}
    assert by_model["text-embedding-3-small"]["operation"] == "embedding"
    assert by_model["dall-e-3"]["usage"] == {
        "images": 2,
        "image_size": "1024x1792",
        "image_quality": "hd",
    }
    assert by_model["gpt-image-1"]["usage"] == {
        "input_tokens": 50,
        "image_input_tokens": 10,
        "image_output_tokens": 4160,
        "image_size": "1024x1024",
        "image_quality": "high",
    }
    assert by_model["gpt-4o-transcribe"]["usage"] == {
        "audio_input_tokens": 100,
        "input_tokens": 20,
        "output_tokens": 30,
    }
    assert by_model["whisper-1"]["usage"] == {"audio_seconds": "12.5"}
    assert (
        by_model["tts-1"]["usage"] == {"characters": 11}
        and by_model["tts-1"]["operation"] == "audio_speech"
    )


COMPAT = [
    (
        "xai",
        {
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "total_tokens": 190,
            "completion_tokens_details": {"reasoning_tokens": 50},
            "prompt_tokens_details": {"cached_tokens": 20},
            "cost_in_usd_ticks": 123450000,
        },
        {
            "input_tokens": 80,
            "cached_input_tokens": 20,
            "output_tokens": 90,
            "reasoning_tokens": 50,
        },
        "0.012345",
    ),
    (
        "deepseek",
        {
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "total_tokens": 110,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 36,
        },
        {"input_tokens": 36, "cached_input_tokens": 64, "output_tokens": 10},
        None,
    ),
    (
        "openrouter",
        {
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "total_tokens": 110,
            "cost": 0.00042,
            "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 20},
        },
        {
            "input_tokens": 50,
            "cached_input_tokens": 30,
            "cache_write_5m_tokens": 20,
            "output_tokens": 10,
        },
        "0.00042",
    ),
    (
        "together",
        {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        {"input_tokens": 7, "output_tokens": 3},
        None,
    ),
    (
        "fireworks",
        {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        {"input_tokens": 7, "output_tokens": 3},
        None,
    ),
    (
        "mistral",
        {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        {"input_tokens": 7, "output_tokens": 3},
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "usage", "normalised", "cost"), COMPAT, ids=[c[0] for c in COMPAT]
)
def test_openai_compatible_quirks(
    provider: FakeProvider,
    receiver: Any,
    name: str,
    usage: dict[str, Any],
    normalised: dict[str, Any],
    cost: str | None,
) -> None:
    provider.replies = [json_reply(completion(usage, model="m-1"))]
    client(provider, name).chat.completions.create(model="m-1", messages=[])
    (event,) = shipped(receiver, 1)
    assert event["provider"] == name and event["usage"] == normalised
    assert event.get("provider_cost_usd") == cost


def test_groq_stream_usage_in_x_groq_without_injection(
    provider: FakeProvider, receiver: Any
) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    provider.replies = [
        sse_reply(
            [
                (None, chunk({"content": "a"})),
                (None, chunk({}, finish="stop", x_groq={"id": "req_1", "usage": usage})),
                (None, "[DONE]"),
            ]
        )
    ]
    chunks = list(
        client(provider, "groq").chat.completions.create(
            model="llama-3.3-70b", messages=[], stream=True
        )
    )
    assert len(chunks) == 2 and "stream_options" not in provider.json_body()
    (event,) = shipped(receiver, 1)
    assert event["provider"] == "groq" and event["usage"] == {
        "input_tokens": 11,
        "output_tokens": 5,
    }


def test_azure_deployment_maps_to_model_by_config(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [
        json_reply(completion(model="gpt-4o-2024-11-20")),
        json_reply(completion(model="gpt-4o-2024-11-20")),
    ]
    costobs.configure(
        ingest_url=costobs_ingest(),
        api_key="test-key",
        flush_interval=0.05,
        model_aliases={"prod-chat": "gpt-4o"},
    )
    c = costobs.wrap(
        openai.AzureOpenAI(
            api_key="k", api_version="2024-10-21", azure_endpoint=provider.url, max_retries=0
        )
    )
    c.chat.completions.create(model="prod-chat", messages=[])
    c.chat.completions.create(model="other-deployment", messages=[])
    assert "/openai/deployments/prod-chat/" in provider.requests[0]["path"]
    events = shipped(receiver, 2)
    assert sorted((e["provider"], e["model"]) for e in events) == [
        ("azure", "gpt-4o"),
        ("azure", "gpt-4o-2024-11-20"),
    ]


def test_with_options_copy_stays_observed(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(completion())]
    c = client(provider, team="t")
    c.with_options(timeout=5).chat.completions.create(model="gpt-4o", messages=[])
    (event,) = shipped(receiver, 1)
    assert event["team"] == "t"


def test_sdk_bug_never_reaches_the_caller(
    provider: FakeProvider, receiver: Any, sdk: list[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    from costobs import _config
    from costobs._usage import openai as usage_mod

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("adapter bug")

    provider.replies = [json_reply(completion())]
    c = client(provider)
    seen: list[BaseException] = []
    costobs.configure(
        ingest_url=costobs_ingest(), api_key="test-key", on_internal_error=seen.append
    )
    monkeypatch.setattr(usage_mod, "chat_usage", boom)
    monkeypatch.setattr(
        costobs.integrations.openai, "effective", boom
    )  # a bug on the caller's path
    result = c.chat.completions.create(model="gpt-4o", messages=[])
    assert result.choices[0].message.content == "hi"  # unobserved, but untouched
    monkeypatch.undo()
    costobs.configure(
        ingest_url=costobs_ingest(), api_key="test-key", on_internal_error=seen.append
    )
    monkeypatch.setattr(usage_mod, "chat_usage", boom)  # a bug in the deferred extraction
    provider.replies = [json_reply(completion())]
    assert c.chat.completions.create(model="gpt-4o", messages=[]).choices[0].message.content == "hi"
    (event,) = shipped(receiver, 1)  # still shipped, without the usage it could not read
    assert event["usage"] == {} and event["model"] == "gpt-4o-2024-08-06"
    assert [str(e) for e in seen] == ["adapter bug", "adapter bug"]
    assert costobs.stats().internal_errors == 2
    assert _config.current().on_internal_error is not None
    gc.collect()


def test_with_streaming_response_is_observed_when_the_body_is_read(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [json_reply(completion()), json_reply(completion()), chat_stream()]
    c = client(provider)
    sr = c.chat.completions.with_streaming_response
    with sr.create(model="gpt-4o", messages=[], feature="parsed") as r:
        assert r.parse().choices[0].message.content == "hi"
        assert not receiver.events  # nothing before the body is read
    with sr.create(model="gpt-4o", messages=[], feature="read") as r:
        assert b'"hi"' in r.read()  # read raw, never parsed: parsed from what was read
    with sr.create(model="gpt-4o", messages=[], stream=True, feature="stream") as r:
        chunks = list(r.parse())
    assert len(chunks) == 3  # the injected usage chunk stays hidden
    events = {e["feature"]: e for e in shipped(receiver, 3)}
    assert all(e["usage"] == NORMALISED for e in events.values())
    assert events["parsed"]["model"] == "gpt-4o-2024-08-06"
    assert events["stream"]["streaming"] is True
    assert events["parsed"]["cost_usd"] == events["stream"]["cost_usd"] != "0"


def test_with_streaming_response_read_as_raw_lines_is_recorded_without_tokens(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [chat_stream()]
    c = client(provider)
    with c.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=[], stream=True
    ) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    (event,) = shipped(receiver, 1)
    assert event["usage"] == {} and event["model"] == "gpt-4o"  # documented limit


async def test_async_with_streaming_response(provider: FakeProvider, receiver: Any) -> None:
    provider.replies = [json_reply(completion()), chat_stream()]
    c = client(provider, is_async=True)
    sr = c.chat.completions.with_streaming_response
    async with sr.create(model="gpt-4o", messages=[]) as r:
        assert (await r.parse()).choices[0].message.content == "hi"
    async with sr.create(model="gpt-4o", messages=[], stream=True) as r:
        chunks = [ch async for ch in await r.parse()]
    assert len(chunks) == 3
    events = shipped(receiver, 2)
    assert all(e["usage"] == NORMALISED for e in events)
    assert sorted(e["streaming"] for e in events) == [False, True]


def test_with_raw_response_is_observed_and_parse_is_unchanged(
    provider: FakeProvider, receiver: Any
) -> None:
    provider.replies = [json_reply(completion(), headers={"x-ratelimit-remaining-requests": "7"})]
    c = client(provider)
    raw = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=[], feature="raw")
    assert raw.headers["x-ratelimit-remaining-requests"] == "7"
    assert raw.parse().choices[0].message.content == "hi"
    (event,) = shipped(receiver, 1)
    assert event["usage"] == NORMALISED and event["feature"] == "raw"
