"""Helpers shared by the AIOps routes: the pipeline, the sender's name, bounded raw bodies."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

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
    """A comma-separated filter whose every word must be one of ``allowed`` (a typo is a 400, not an
    empty list); the value as given, or None when empty."""
    if value is None or not value.strip():
        return None
    known = set(allowed)
    bad = [w for w in comma_values(value) if w.lower() not in known]
    if bad:
        raise InvalidInputError(f"{field}: unknown value {bad[0]!r}; expected one of {', '.join(sorted(known))}",
                                field=field)
    return value


def sender_of(request: Request) -> str:
    """Who sent the request: its sender header, else its client's address (for a request a follower
    forwarded, the address the follower saw)."""
    for header in ("x-opsloop-sender", "x-scope-orgid", FORWARDED_HEADER):
        value = request.headers.get(header)
        if value:
            return value[:200]
    return request.client.host if request.client else "unknown"


def actor_of(request: Request, body_actor: Any = None) -> str:
    if isinstance(body_actor, str) and body_actor.strip():
        return body_actor.strip()[:200]
    return request.headers.get("x-opsloop-user", "")[:200] or "anonymous"


async def raw_body(request: Request) -> bytes:
    """The request body within the configured limit, gzip/deflate Content-Encoding undone."""
    max_bytes = request.app.state.runtime.settings.server.max_body_bytes
    raw = await _bounded(request, max_bytes)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity", "snappy"):
        return raw  # snappy bodies (remote_write, Loki protobuf) are decoded by their decoders
    try:
        if encoding == "gzip":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            d = zlib.decompressobj()
        else:
            raise InvalidInputError(f"unsupported Content-Encoding {encoding!r}", field="content-encoding")
        out = d.decompress(raw, max_bytes)
        if d.unconsumed_tail:
            raise LimitExceededError(f"decompressed body exceeds {max_bytes} bytes", field="body")
        return out
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInputError(f"body is not valid {encoding}: {exc}", field="body") from None
