"""``POST /v1/traces`` end to end: the real OpenTelemetry SDK exporter (protobuf, gzip) and a real
GenAI instrumentation (opentelemetry-instrumentation-openai-v2 around the real ``openai``
client, only the provider's HTTP faked) export to the real ingest → NATS → writer → chDB."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status as OtelStatus
from opentelemetry.trace import StatusCode

from costobs_server.nats_server import NatsServer
from costobs_server.streams import EVENTS_STREAM, events_subject
from tests.fake_http import Request, fake_server, json_reply
from tests.helpers import Running, eventually, nats_client

SECRETS = ("PROMPT-SECRET-7731", "COMPLETION-SECRET-4410", "EVENT-BODY-SECRET-9902")
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _provider(running: Running, **resource: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "checkout", "deployment.environment.name": "prod", **resource}
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def _exporter(running: Running) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"{running.url}/v1/traces",
        headers={"Authorization": f"Bearer {running.org.key}"},
        compression=Compression.Gzip,
    )


async def _rows(running: Running, expected: int) -> list[dict[str, Any]]:
    store = running.stack.services.store  # type: ignore[union-attr]

    def rows() -> list[dict[str, Any]]:
        client = store.client
        result = client.query(
            "SELECT * FROM events WHERE org_id = {org:String} ORDER BY request_id",
            parameters={"org": running.org.id},
        )
        return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]

    found: list[dict[str, Any]] = []

    async def arrived() -> bool:
        found[:] = await asyncio.to_thread(rows)
        return len(found) >= expected

    await eventually(arrived)
    return found


async def _queued_payloads(running: Running, server: NatsServer) -> list[bytes]:
    nc = await nats_client(server)  # the ingest user may publish only, never read
    js = nc.jetstream()
    sub = await js.subscribe(
        events_subject(running.org.id), stream=EVENTS_STREAM, ordered_consumer=True
    )
    payloads = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except TimeoutError:
                break
            payloads.append(msg.data)
    finally:
        await sub.unsubscribe()
        await nc.close()
    return payloads


def _genai_spans(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("test-genai", "1.0")
    with tracer.start_as_current_span("invoke_agent planner") as agent:
        agent.set_attributes(
            {
                "gen_ai.provider.name": "openai",
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 99999,  # its children's sum: never counted twice
            }
        )
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attributes(
                {
                    "gen_ai.provider.name": "openai",
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.input_tokens": 1_000_000,
                    "gen_ai.usage.output_tokens": 100_000,
                    "gen_ai.usage.cache_read.input_tokens": 400_000,
                    "gen_ai.prompt": SECRETS[0],
                    "gen_ai.completion": SECRETS[1],
                    "gen_ai.input.messages": f'[{{"role":"user","content":"{SECRETS[0]}"}}]',
                    "gen_ai.output.messages": [SECRETS[1]],
                    "gen_ai.system_instructions": SECRETS[0],
                }
            )
            span.add_event(
                "gen_ai.content.prompt", {"gen_ai.prompt": SECRETS[2], "body": SECRETS[2]}
            )
        with tracer.start_as_current_span("GET /health") as http:
            http.set_attribute("http.request.method", "GET")
        with tracer.start_as_current_span("chat claude") as failed:
            failed.set_attributes(
                {
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 0,
                    "error.type": "overloaded_error",
                }
            )
            failed.set_status(OtelStatus(StatusCode.ERROR, SECRETS[1]))


async def test_sdk_exporter_spans_become_priced_events_and_content_never_arrives(
    running: Running, nats_server: NatsServer
) -> None:
    provider, memory = _provider(running)
    _genai_spans(provider)
    spans = memory.get_finished_spans()
    exporter = _exporter(running)
    result = await asyncio.to_thread(exporter.export, spans)
    assert result is SpanExportResult.SUCCESS

    rows = await _rows(running, 2)
    assert len(rows) == 2  # the agent and HTTP spans were ignored
    by_provider = {r["provider"]: r for r in rows}
    chat = by_provider["openai"]
    # gpt-4o-2024-08-06: $2.50 input, $1.25 cached input, $10 output per 1M tokens
    assert (chat["input_tokens"], chat["cached_input_tokens"]) == (600_000, 400_000)
    assert chat["cost_usd"] == Decimal("1.5") + Decimal("0.5") + Decimal("1")
    assert (chat["service"], chat["environment"]) == ("checkout", "prod")
    assert chat["model"] == "gpt-4o-2024-08-06"
    assert chat["sdk_language"] == "otel"
    failed = by_provider["anthropic"]
    assert (failed["status"], failed["error_type"]) == ("error", "overloaded_error")

    stored = orjson.dumps(rows, default=str)
    queued = b"".join(await _queued_payloads(running, nats_server))
    assert b"checkout" in queued  # the check below would notice content
    for secret in SECRETS:
        assert secret.encode() not in stored
        assert secret.encode() not in queued
    for marker in (b"gen_ai.prompt", b"input.messages", b"system_instructions", b"content"):
        assert marker not in queued

    # re-sending the same export (an exporter retry) stores nothing twice
    assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
    await asyncio.sleep(0.5)
    assert len(await _rows(running, 2)) == 2
    exporter.shutdown()


async def test_json_encoding_partial_success_and_errors(running: Running) -> None:
    trace = uuid.uuid4().hex

    def span(span_id: str, **attrs: Any) -> dict[str, Any]:
        return {
            "traceId": trace,
            "spanId": span_id,
            "name": "chat",
            "startTimeUnixNano": "1795000000000000000",
            "endTimeUnixNano": "1795000000500000000",
            "attributes": [
                {
                    "key": k,
                    "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v},
                }
                for k, v in attrs.items()
            ],
            "events": [
                {
                    "name": "x",
                    "attributes": [{"key": "gen_ai.prompt", "value": {"stringValue": SECRETS[0]}}],
                }
            ],
        }

    good = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 5,
    }
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "js-app"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            span("00f067aa0ba902b7", **good),
                            span("00f067aa0ba902b8", **{**good, "gen_ai.usage.output_tokens": -3}),
                            span("00f067aa0ba902b9", **{**good, "gen_ai.request.model": "m" * 300}),
                            span("00f067aa0ba902ba", **{"http.route": "/x"}),
                        ],
                    }
                ],
            }
        ]
    }
    r = await running.client.post("/v1/traces", json=body, headers=running.org.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "gen_ai.usage.output_tokens" in partial["errorMessage"]
    assert "model" in partial["errorMessage"]
    rows = await _rows(running, 1)
    assert rows[0]["request_id"] == f"otel-{trace}-00f067aa0ba902b7"
    assert rows[0]["service"] == "js-app"

    # an all-good export answers without partial_success
    body["resourceSpans"][0]["scopeSpans"][0]["spans"] = [span("00f067aa0ba902b7", **good)]
    r = await running.client.post("/v1/traces", json=body, headers=running.org.headers)
    assert (r.status_code, r.json()) == (200, {})

    bad = await running.client.post(
        "/v1/traces",
        content=b"{not json",
        headers={**running.org.headers, "Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and "JSON" in bad.json()["message"]
    garbage = await running.client.post(
        "/v1/traces", content=b"\xff\x00garbage", headers={**running.org.headers, **PROTOBUF}
    )
    assert garbage.status_code == 400
    assert garbage.headers["content-type"] == "application/x-protobuf"
    assert "protobuf" in Status.FromString(garbage.content).message
    other = await running.client.post(
        "/v1/traces", content=b"x", headers={**running.org.headers, "Content-Type": "text/plain"}
    )
    assert other.status_code == 415
    nokey = await running.client.post("/v1/traces", content=b"", headers=PROTOBUF)
    assert nokey.status_code == 401
    assert Status.FromString(nokey.content).code == 16  # UNAUTHENTICATED
    zipped = await running.client.post(
        "/v1/traces",
        content=gzip.compress(orjson.dumps(body)),
        headers={
            **running.org.headers,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert zipped.status_code == 200
    empty = await running.client.post(
        "/v1/traces", content=b"", headers={**running.org.headers, **PROTOBUF}
    )
    assert empty.status_code == 200
    assert ExportTraceServiceResponse.FromString(empty.content).partial_success.rejected_spans == 0

    metrics = (await running.client.get("/metrics")).text
    assert 'costobs_otlp_spans_total{outcome="ignored"}' in metrics
    assert 'costobs_otlp_spans_total{outcome="rejected"}' in metrics


@pytest.fixture
def openai_instrumented(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    yield
    OpenAIInstrumentor().uninstrument()


def _completion(_: Request) -> tuple[int, dict[str, str], bytes]:
    return json_reply(
        200,
        {
            "id": "chatcmpl-otel-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": SECRETS[1]},
                }
            ],
            "usage": {
                "prompt_tokens": 3000,
                "completion_tokens": 500,
                "total_tokens": 3500,
                "prompt_tokens_details": {"cached_tokens": 2000},
            },
        },
    )


async def test_real_openai_instrumentation_spans_are_priced(
    running: Running, nats_server: NatsServer, openai_instrumented: None
) -> None:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    provider, memory = _provider(running)
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    with fake_server(_completion) as fake:
        client = openai.OpenAI(api_key="sk-test", base_url=f"{fake.url}/v1", max_retries=0)

        def call() -> None:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": SECRETS[0]}],
            )

        await asyncio.to_thread(call)
    spans = memory.get_finished_spans()
    assert len(spans) == 1
    exporter = _exporter(running)
    assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    rows = await _rows(running, 1)
    row = rows[0]
    assert (row["provider"], row["model"]) == ("openai", "gpt-4o-mini-2024-07-18")
    assert row["provider_request_id"] == "chatcmpl-otel-1"
    assert row["output_tokens"] == 500
    # the legacy convention this instrumentation emits by default has no cache attribute: the
    # whole prompt counts as input; priced at gpt-4o-mini's $0.15 / $0.60 per 1M
    assert row["input_tokens"] == 3000
    assert row["cost_usd"] == Decimal("0.00045") + Decimal("0.0003")
    stored = orjson.dumps(rows, default=str)
    queued = b"".join(await _queued_payloads(running, nats_server))
    for secret in SECRETS:
        assert secret.encode() not in stored and secret.encode() not in queued
