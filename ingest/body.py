"""Reading a request body within limits, gzip included; pure helpers apart from the stream."""

from __future__ import annotations

import zlib

from fastapi import HTTPException, Request


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"request body exceeds {limit} bytes (COSTOBS_MAX_BODY_BYTES)")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gunzip(body, limit)
    raise HTTPException(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes: a small bomb cannot make a large body."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HTTPException(400, f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large(limit)
    if not inflater.eof:
        raise HTTPException(400, "body is not valid gzip: truncated stream")
    return out
