"""Helpers shared by the AIOps routes: the pipeline, the sender's name, bounded raw bodies."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import cramjam
from starlette.requests import Request

from opsloop.aiops.ingestion.remote_write import decompress as snappy_block
from opsloop.errors import InvalidInputError, LimitExceededError
from opsloop.server.aiops.forwarding import FORWARDED_HEADER
from opsloop.server.wire import _bounded
from opsloop.storage.sql._dialect import comma_values

__all__ = ["actor_of", "choices", "pipeline", "raw_body", "sender_of"]


def pipeline(request: Request) -> Any:
    p = getattr(request.app.state, "aiops", None)
    if p is None:
        raise RuntimeError("the AIOps pipeline is not running (the app's lifespan has not started)")
    return p


def choices(value: str | None, allowed: Iterable[str], field: str) -> str | None:
    """A comma-separated filter whose every word must be one of ``allowed``, in any case (a typo is a 400,
    not an empty list); its words in lower case, as the stores compare them, or None when empty."""
    if value is None or not value.strip():
        return None
    known = set(allowed)
    words = comma_values(value)
    bad = [w for w in words if w.lower() not in known]
    if bad:
        raise InvalidInputError(f"{field}: unknown value {bad[0]!r}; expected one of {', '.join(sorted(known))}",
                                field=field)
    return ",".join(w.lower() for w in words)


def sender_of(request: Request) -> str:
    """Who sent the request: its sender header, else its client's address (for a request a follower
    forwarded, the address the follower saw)."""
    for header in ("x-opsloop-sender", "x-scope-orgid", FORWARDED_HEADER):
        value = request.headers.get(header)
        if value:
            return value[:200]
    return request.client.host if request.client else "unknown"


def actor_of(request: Request, body_actor: Any = None) -> str:
    """Who acts: the body's ``actor``, else the ``X-Opsloop-User`` header (UTF-8, as proxies send a name
    that is not ASCII; other bytes as Latin-1), else ``anonymous``."""
    if isinstance(body_actor, str) and body_actor.strip():
        return body_actor.strip()[:200]
    raw = request.headers.get("x-opsloop-user", "").encode("latin-1")  # the header's bytes
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        name = raw.decode("latin-1")
    return name.strip()[:200] or "anonymous"


# the stream identifier a framed snappy body starts with (a block one starts with its length)
_SNAPPY_FRAMED = b"\xff\x06\x00\x00sNaPpY"


async def raw_body(request: Request, *, snappy_decoded_by_route: bool = False) -> bytes:
    """The request body within the configured limit, its Content-Encoding undone: ``gzip``, ``deflate``
    and ``zlib`` (the HTTP spec's and OTLP's), ``zstd`` and ``snappy`` (framed or block, told apart by the
    first bytes, as the OpenTelemetry Collector's receivers do; a route whose protocol is snappy itself,
    remote_write and Loki's protobuf push, decodes it). A body that expands past the limit is a 413."""
    max_bytes = request.app.state.runtime.settings.server.max_body_bytes
    raw = await _bounded(request, max_bytes)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity") or (encoding == "snappy" and snappy_decoded_by_route):
        return raw
    if encoding == "zstd":
        return _into(cramjam.zstd.decompress_into, raw, max_bytes, encoding)
    if encoding == "snappy":
        if raw.startswith(_SNAPPY_FRAMED):
            return _into(cramjam.snappy.decompress_into, raw, max_bytes, "framed snappy")
        return snappy_block(raw, max_bytes)
    try:
        if encoding == "gzip":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding in ("deflate", "zlib"):
            d = zlib.decompressobj()
        else:
            raise InvalidInputError(f"unsupported Content-Encoding {encoding!r} (expected gzip, deflate, zlib, zstd "
                                    "or snappy)", field="content-encoding")
        out = d.decompress(raw, max_bytes)
        if d.unconsumed_tail:
            raise LimitExceededError(f"decompressed body exceeds {max_bytes} bytes", field="body")
        return out
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInputError(f"body is not valid {encoding}: {exc}", field="body") from None


def _into(decompress_into: Callable[[bytes, bytearray], int], raw: bytes, max_bytes: int, name: str) -> bytes:
    """``raw`` decompressed into a buffer grown 8 times at a time up to ``max_bytes`` (the formats need not
    say their size up front), so a small body never takes the limit's worth of memory."""
    size = min(max_bytes + 1, max(1 << 16, 8 * len(raw)))
    while True:
        buf = bytearray(size)
        try:
            n = decompress_into(raw, buf)
        except cramjam.DecompressionError as exc:
            if "whole buffer" not in str(exc):
                raise InvalidInputError(f"body is not valid {name}: {exc}", field="body") from None
            if size > max_bytes:
                raise LimitExceededError(f"decompressed body exceeds {max_bytes} bytes", field="body") from None
            size = min(max_bytes + 1, size * 8)
            continue
        if n > max_bytes:
            raise LimitExceededError(f"decompressed body exceeds {max_bytes} bytes", field="body")
        return bytes(memoryview(buf)[:n])
