"""The scoring server: a lean ASGI app speaking MLflow's scoring protocol.

Routes: ``POST /invocations``, ``GET /ping``, ``GET /health``, ``GET /version``, ``GET /metrics``;
and, when a monitor is attached, ``POST /labels`` and ``/monitoring/*`` (see
``opsloop.mlops.monitoring.api``). Raw ASGI rather than a framework: a scoring request costs
little more than JSON parsing and the model call.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from opsloop import __version__
from opsloop.errors import InvalidInputError, LimitExceededError, NotFoundError, OpsloopError
from opsloop.mlops.serving.batching import MicroBatcher
from opsloop.mlops.serving.loading import LoadedModel, ModelFailedError
from opsloop.mlops.serving.metrics import ServingMetrics
from opsloop.mlops.serving.payload import ModelInput, predictions_to_json
from opsloop.mlops.serving.traffic import ModelSlots

__all__ = ["DEFAULT_MAX_BODY_BYTES", "PredictionRecorder", "ScoringApp", "error_body"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_CONTENT_TYPES = ("application/json", "text/csv", "")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class PredictionRecorder(Protocol):
    """Where sampled requests go (``opsloop.mlops.monitoring.PredictionSampler`` implements it)."""

    def wants(self) -> bool: ...

    def record(self, request_id: str, variant: str, model: LoadedModel, data: ModelInput, preds: Any) -> None: ...


class _HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.kind, self.field = status, code, message, kind, field


def error_body(code: str, message: str, field: str | None = None) -> bytes:
    """MLflow-style error body: ``{"error_code": ..., "message": ...}``."""
    doc = {"error_code": code, "message": message}
    if field:
        doc["field"] = field
    return json.dumps(doc).encode()


def _to_http(exc: Exception) -> _HttpError:
    if isinstance(exc, _HttpError):
        return exc
    if isinstance(exc, LimitExceededError):
        return _HttpError(413, "BAD_REQUEST", exc.message, "payload_too_large", exc.field)
    if isinstance(exc, ModelFailedError):  # 400 as MLflow answers it, but the model's failure, not the caller's
        return _HttpError(400, "BAD_REQUEST", exc.message, "model_error", exc.field)
    if isinstance(exc, InvalidInputError):
        return _HttpError(400, "BAD_REQUEST", exc.message, "bad_request", exc.field)
    if isinstance(exc, NotFoundError):
        return _HttpError(404, "RESOURCE_DOES_NOT_EXIST", exc.message, "not_found", exc.field)
    if isinstance(exc, OpsloopError):
        return _HttpError(500, "INTERNAL_ERROR", exc.message, "internal")
    log.exception("scoring failed")
    return _HttpError(500, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}", "internal")


class ScoringApp:
    """ASGI app serving one model (plus an optional challenger) with MLflow's scoring protocol.

    Args:
        slots: the champion, optional challenger and traffic policy.
        metrics: Prometheus metrics (shared across workers when their table is).
        max_body_bytes: larger request bodies get 413 before they are read.
        recorder: receives sampled requests and both sides' predictions.
        monitoring: ASGI app answering ``/labels`` and ``/monitoring/*``.
        status: callable returning extra health details (e.g. an alias watcher's state).
        micro_batching: score fast-path requests that arrive together in one model call.
    """

    def __init__(self, slots: ModelSlots, *, metrics: ServingMetrics | None = None,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, recorder: PredictionRecorder | None = None,
                 monitoring: Callable[..., Awaitable[None]] | None = None,
                 status: Callable[[], dict[str, Any]] | None = None,
                 on_startup: Callable[[], None] | None = None,
                 on_shutdown: Callable[[], None] | None = None, micro_batching: bool = True) -> None:
        self.slots = slots
        self.batcher = MicroBatcher() if micro_batching else None
        self.metrics = metrics or ServingMetrics(model=slots.champion.uri)
        self.max_body_bytes = max_body_bytes
        self.recorder = recorder
        self.monitoring = monitoring
        self.status = status
        self.on_startup, self.on_shutdown = on_startup, on_shutdown
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                if self.on_startup:
                    self.on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if self.on_shutdown:
                    self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method != "POST":
                await _respond(send, 405, error_body("BAD_REQUEST", "use POST /invocations"), _JSON)
                return
            await self._invocations(scope, receive, send)
        elif method == "GET" and path in ("/ping", "/health"):
            await self._health(send, path)
        elif method == "GET" and path == "/version":
            await _respond(send, 200, __version__.encode(), _TEXT)
        elif method == "GET" and path == "/metrics":
            await _respond(send, 200, self.metrics.render().encode(),
                           [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")])
        elif self.monitoring is not None and (path == "/labels" or path.startswith("/monitoring/")):
            await self.monitoring(scope, receive, send)
        else:
            await _respond(send, 404, error_body("ENDPOINT_NOT_FOUND", f"no route {method} {path}"), _JSON)

    async def _health(self, send: Send, path: str) -> None:
        if path == "/ping":
            await _respond(send, 200, b"\n", _TEXT)
            return
        doc: dict[str, Any] = {"status": "ok", "model": self.slots.champion.describe()}
        if self.slots.challenger is not None:
            doc["challenger"] = self.slots.challenger.describe()
            doc["traffic"] = {"mode": self.slots.policy.mode, "challenger_weight": self.slots.policy.challenger_weight}
        if self.status is not None:
            doc.update(self.status())
        await _respond(send, 200, json.dumps(doc).encode(), _JSON)

    async def _invocations(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = (headers.get(b"x-request-id") or b"").decode("latin-1") or \
            f"{self._id_prefix}-{next(self._ids)}"
        try:
            body = await _read_body(receive, headers, self.max_body_bytes)
            ctype = headers.get(b"content-type", b"application/json").decode("latin-1")
            if ctype.split(";", 1)[0].strip().lower() not in _CONTENT_TYPES:
                raise _HttpError(415, "BAD_REQUEST", f"unsupported content type {ctype!r}; use "
                                 "application/json or text/csv", "unsupported_media_type")
            variant, model, shadow = self.slots.route()
            data = model.decode(body, ctype)
            if self.batcher is not None and model.fast_path and data.matrix is not None:
                preds = await self.batcher.predict(model, data)
            else:
                preds = model.predict(data)
            out = predictions_to_json(preds)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one clear HTTP error
            err = _to_http(exc)
            extra = [(b"connection", b"close")] if err.status == 413 else []
            self.metrics.observe_request(err.status, time.perf_counter() - start, err.kind)
            await _respond(send, err.status, error_body(err.code, err.message, err.field),
                           [*_JSON, (b"x-request-id", request_id.encode()), *extra])
            return
        # counted before it is sent: a caller reading the counters once it has its answer (on any worker)
        # finds its request there; the latency is the time until the answer is ready to send
        self.metrics.observe_request(200, time.perf_counter() - start)
        await _respond(send, 200, out, [*_JSON, (b"x-request-id", request_id.encode()),
                                        (b"x-opsloop-variant", variant.encode())])
        self.metrics.observe_predictions(preds, variant)
        self._after_response(request_id, variant, model, shadow, data, preds)

    def _after_response(self, request_id: str, variant: str, model: LoadedModel, shadow: LoadedModel | None,
                        data: ModelInput, preds: Any) -> None:
        """Shadow scoring and sampling, after the caller has its answer."""
        recording = self.recorder is not None and self.recorder.wants()
        if recording:
            self.recorder.record(request_id, variant, model, data, preds)  # type: ignore[union-attr]
        if shadow is None:
            return
        try:
            shadow_preds = shadow.predict(data)
        except Exception as exc:  # noqa: BLE001 - a failing challenger never hurts the champion's callers
            log.warning("challenger failed on request %s: %s", request_id, exc)
            return
        self.metrics.observe_predictions(shadow_preds, "challenger")
        if recording:
            self.recorder.record(request_id, "challenger", shadow, data, shadow_preds)  # type: ignore[union-attr]


async def _read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
    length = headers.get(b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise LimitExceededError(f"request body of {int(length)} bytes is over the {limit}-byte limit",
                                 field="body")
    chunks = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise InvalidInputError("client disconnected", field="body")
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise LimitExceededError(f"request body is over the {limit}-byte limit", field="body")
        chunks.append(chunk)
        if not msg.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not body:
        raise InvalidInputError("empty request body", field="body")
    return body


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
