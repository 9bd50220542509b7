"""``POST /v1/traces``: OTLP/HTTP traces in, cost events out, through the same path as
``/v1/events`` (API key with the ingest scope → validation of each event → JetStream → the
writer re-prices). Only GenAI inference spans become events (``ingest.genai``); other spans are
ignored and counted. Answers follow the OTLP/HTTP specification: 200 with an
``ExportTraceServiceResponse`` (``partial_success`` counting rejected spans), a
``google.rpc.Status`` body for errors, each in the request's encoding; 415 for other encodings.

Idempotency: an event's ``request_id`` is ``otel-<trace id>-<span id>`` and the batch id is a
hash of the export's request ids, so a re-sent export maps to the same JetStream message ids
(dropped within the duplicate window) and, after it, to rows the writer already holds.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import Counter

from costobs_server.auth import require_key
from costobs_server.bounds import Admission, EventLimits
from costobs_server.settings import Settings
from costobs_server.wire import validate_event
from ingest import otlp_codec as codec
from ingest.body import read_body
from ingest.genai import Ignored, SpanMapping, parse_attribute_map, to_event
from ingest.publisher import Publisher, Unavailable

SPANS = Counter(
    "costobs_otlp_spans_total",
    "OTLP spans by outcome: accepted, duplicate, rejected, ignored (not a GenAI inference call)",
    ["outcome"],
)
_MAX_MESSAGES = 5


def span_mapping(settings: Settings) -> SpanMapping:
    """Checked at start-up: a bad attribute map stops the server with a message naming it."""
    excluded = {p.strip().lower() for p in settings.otlp_input_excludes_cache.split(",")}
    return SpanMapping(parse_attribute_map(settings.otlp_attribute_map), frozenset(excluded - {""}))


def _answer(encoding: str, status: int, body: bytes, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(body, status_code=status, media_type=encoding, headers=headers)


def _failure(encoding: str, status: int, message: str, retry_after: int | None = None) -> Response:
    return _answer(encoding, status, codec.status(encoding, status, message), retry_after)


def install(
    app: FastAPI, settings: Settings, publisher: Publisher | None, limits: EventLimits
) -> None:
    """``limits``: the per-event limits ``/v1/events`` holds events to (age, skew, caps)."""
    mapping = span_mapping(settings)

    @app.post(
        "/v1/traces",
        summary="OTLP/HTTP traces (protobuf or JSON); GenAI spans become cost events",
        responses={
            200: {"description": "ExportTraceServiceResponse (partial_success when rejected)"},
            400: {"description": "Undecodable body"},
            401: {"description": "Missing, unknown or revoked API key"},
            403: {"description": "The key lacks the ingest scope"},
            413: {"description": "Body too large (COSTOBS_MAX_BODY_BYTES, sent or inflated)"},
            415: {"description": "Content-Type other than application/x-protobuf or json"},
            429: {"description": "Saturated; retry after Retry-After seconds"},
            503: {"description": "Queue unavailable; retry after Retry-After seconds"},
        },
    )
    async def post_traces(request: Request) -> Response:
        encoding = codec.encoding_of(request.headers.get("content-type"))
        if encoding is None:
            return _failure(
                codec.JSON, 415, "Content-Type must be application/x-protobuf or application/json"
            )
        try:
            key = await require_key(request, "ingest")
            body = await read_body(request, settings.max_body_bytes)
        except HTTPException as exc:
            return _failure(encoding, exc.status_code, str(exc.detail))
        if publisher is None:
            return _failure(encoding, 503, "this process does not accept events (no queue)", 5)
        if publisher.saturated:
            return _failure(encoding, 429, "ingest is saturated; retry shortly", 1)
        try:
            export = codec.decode(body, encoding)
        except codec.Undecodable as exc:
            return _failure(encoding, 400, str(exc))

        now = datetime.now(UTC)
        accepted: list[bytes] = []
        request_ids: list[str] = []
        errors: list[str] = []
        ignored = 0
        admission = Admission(limits, now)  # the window and caps of /v1/events
        for span in codec.spans(export):
            if isinstance(span, str):
                errors.append(span)
                continue
            try:
                event = validate_event(to_event(span, mapping))
            except Ignored:
                ignored += 1
                continue
            except ValueError as exc:
                errors.append(f"span {span.span_id} of trace {span.trace_id}: {exc}")
                continue
            problem = admission.problems(event)
            if problem is not None:
                errors.append(f"span {span.span_id} of trace {span.trace_id}: {problem}")
                continue
            request_ids.append(event["request_id"])
            accepted.append(orjson.dumps(event))
        SPANS.labels("ignored").inc(ignored)
        SPANS.labels("rejected").inc(len(errors))

        batch_id = "otlp-" + hashlib.sha256("\n".join(request_ids).encode()).hexdigest()[:40]
        received_at = now.isoformat(timespec="milliseconds")
        try:
            result = await publisher.publish(key.org_id, batch_id, received_at, accepted)
        except Unavailable as exc:
            return _failure(encoding, 503, str(exc), exc.retry_after)
        SPANS.labels("accepted").inc(result.accepted)
        SPANS.labels("duplicate").inc(result.duplicates)
        message = "; ".join(errors[:_MAX_MESSAGES])
        if len(errors) > _MAX_MESSAGES:
            message += f"; and {len(errors) - _MAX_MESSAGES} more"
        return _answer(encoding, 200, codec.success(encoding, len(errors), message))
