"""OTLP/HTTP trace bodies in, answers out: protobuf and JSON, as the OTLP specification has them.

Decoding keeps only what ``ingest.genai`` reads: span events and links are dropped before
anything else (their bodies are where instrumentations put prompts and completions), and
attribute values that are arrays, maps or bytes are never carried over.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status as SpanStatus

from costobs_server.errors import InvalidInput
from ingest.genai import Scalar, SpanView

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_GRPC_CODES = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}
"""HTTP status → google.rpc.Code for the Status body of an error answer."""


class Undecodable(InvalidInput):
    """The body is not an ExportTraceServiceRequest in the declared encoding."""


def encoding_of(content_type: str | None) -> str | None:
    """``PROTOBUF``, ``JSON`` or ``None`` (unsupported) for a Content-Type header."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if media == JSON:
        return JSON
    return None


def _hex_to_b64(value: object) -> object:
    """OTLP/JSON carries trace and span ids as hex, protobuf's JSON mapping as base64."""
    if isinstance(value, str) and value:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            raise Undecodable(f"id {value[:40]!r} is not hex") from None
    return value


def _json_request(body: bytes) -> ExportTraceServiceRequest:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Undecodable(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Undecodable("body must be a JSON object (ExportTraceServiceRequest)")
    for resource_spans in _list(data, "resourceSpans", "resource_spans"):
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _list(scope_spans, "spans"):
                if not isinstance(span, dict):
                    raise Undecodable("a span must be a JSON object")
                for key in ("events", "links"):
                    span.pop(key, None)
                for key in ("traceId", "trace_id", "spanId", "span_id", "parentSpanId"):
                    if key in span:
                        span[key] = _hex_to_b64(span[key])
                span.pop("parent_span_id", None)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise Undecodable(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    return request


def _list(parent: dict[str, Any], *keys: str) -> list[Any]:
    for key in keys:
        value = parent.get(key)
        if value is not None:
            if not isinstance(value, list):
                raise Undecodable(f"{key} must be a list")
            return value
    return []


def decode(body: bytes, encoding: str) -> ExportTraceServiceRequest:
    if encoding == JSON:
        return _json_request(body)
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise Undecodable(
            f"body is not an OTLP protobuf ExportTraceServiceRequest: {exc}"
        ) from None
    return request


def _scalars(attributes: Any) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {}
    item: KeyValue
    for item in attributes:
        kind = item.value.WhichOneof("value")
        if kind in ("string_value", "bool_value", "int_value", "double_value"):
            out[item.key] = getattr(item.value, kind)
    return out


def spans(request: ExportTraceServiceRequest) -> Iterator[SpanView | str]:
    """Each span as a ``SpanView``, or the reason it cannot be read (a rejected span)."""
    for resource_spans in request.resource_spans:
        resource = _scalars(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            version = scope_spans.scope.version
            for span in scope_spans.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    yield f"span {span.name!r}: trace_id must be 16 bytes and span_id 8"
                    continue
                yield SpanView(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    error=span.status.code == SpanStatus.STATUS_CODE_ERROR,
                    attributes=_scalars(span.attributes),
                    resource=resource,
                    scope_version=version,
                )


def success(encoding: str, rejected: int, message: str) -> bytes:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if encoding == JSON:
        return orjson.dumps(json_format.MessageToDict(response))
    return bytes(response.SerializeToString())


def status(encoding: str, http_status: int, message: str) -> bytes:
    """The google.rpc.Status body OTLP/HTTP gives every 4xx and 5xx answer."""
    body = Status(code=_GRPC_CODES.get(http_status, 2), message=message)
    if encoding == JSON:
        return orjson.dumps(json_format.MessageToDict(body))
    return bytes(body.SerializeToString())
