"""Serving every registered model from one app (mounted in the opsloop server).

Routes, relative to where the app is mounted::

    POST /{name}/{version or alias}/invocations     MLflow's scoring protocol
    GET  /{name}/{version or alias}/health | ping | metrics

A numeric second segment is a version (``models:/NAME/3``), anything else an alias
(``models:/NAME@champion``). Requests to the alias ``challenger`` are answered, and sampled, as the
``challenger`` variant; every other reference as the ``champion`` (the model's drift and performance). Models load on first use and are re-resolved every
``refresh_seconds``: an alias that moved serves the new version, an alias or model that no
longer exists answers 404 (and is dropped), never a crash.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from opsloop.errors import NotFoundError, OpsloopError
from opsloop.mlops.serving.app import DEFAULT_MAX_BODY_BYTES, PredictionRecorder, ScoringApp, error_body
from opsloop.mlops.serving.loading import load_model
from opsloop.mlops.serving.metrics import ServingMetrics
from opsloop.mlops.serving.mlmodel import read_mlmodel
from opsloop.mlops.serving.traffic import ModelSlots
from opsloop.mlops.serving.uris import ModelResolver, resolve_model_uri

__all__ = ["RegistryScoringApp", "model_uri_for", "name_and_ref"]

_JSON = [(b"content-type", b"application/json")]


def model_uri_for(name: str, ref: str) -> str:
    """``models:/NAME/VERSION`` for a numeric ``ref``, else ``models:/NAME@ALIAS``."""
    ref = ref.lstrip("@")
    return f"models:/{name}/{ref}" if ref.isdigit() else f"models:/{name}@{ref}"


def name_and_ref(uri: str) -> tuple[str, str]:
    """``model_uri_for``'s inverse: ``models:/NAME/3`` → (NAME, "3"); ``models:/NAME@ALIAS`` → (NAME, ALIAS)."""
    rest = uri.removeprefix("models:/")
    name, _, version = rest.rpartition("/")
    if name and version.isdigit():
        return name, version
    name, _, alias = rest.rpartition("@")
    return name, alias


class _Entry:
    __slots__ = ("app", "checked")

    def __init__(self, app: ScoringApp) -> None:
        self.app = app
        self.checked = time.monotonic()


class RegistryScoringApp:
    """ASGI app scoring any ``NAME/REF`` the resolver knows (see the module docstring).

    Args:
        resolver: turns ``models:/`` URIs into local directories; raises ``NotFoundError`` for unknown ones.
        refresh_seconds: how long a resolution is trusted before the registry is asked again.
        max_models: loaded models kept (least recently used dropped first).
        recorder_for: the recorder sampling a model name's requests (``None``: not sampled), asked
            when a model loads.

    ``metrics_for`` (settable after construction) gives a URI's loaded app its counters, e.g. a table
    the server's workers share; by default each app loaded counts from zero.
    """

    def __init__(self, resolver: ModelResolver, *, refresh_seconds: float = 30.0, max_models: int = 16,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 recorder_for: Callable[[str], PredictionRecorder | None] | None = None) -> None:
        self.resolver = resolver
        self.recorder_for = recorder_for
        self.refresh_seconds = refresh_seconds
        self.max_models = max_models
        self.max_body_bytes = max_body_bytes
        self.metrics_for: Callable[[str], ServingMetrics] | None = None
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) != 3 or parts[2] not in ("invocations", "ping", "health", "metrics"):
            await _send(send, 404, error_body("ENDPOINT_NOT_FOUND", f"no route {scope['method']} {path}; use "
                                              "/{name}/{version or alias}/invocations"))
            return
        uri = model_uri_for(parts[0], parts[1])
        try:
            app = await self._app_for(uri, parts[0])
        except OpsloopError as exc:
            status = 404 if isinstance(exc, NotFoundError) else 500
            code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "INTERNAL_ERROR"
            await _send(send, status, error_body(code, exc.message))
            return
        await app(dict(scope, path="/" + parts[2]), receive, send)

    async def _app_for(self, uri: str, name: str) -> ScoringApp:
        entry = self._entries.get(uri)
        if entry is not None and time.monotonic() - entry.checked < self.refresh_seconds:
            self._entries.move_to_end(uri)
            return entry.app
        lock = self._locks.setdefault(uri, asyncio.Lock())
        async with lock:
            entry = self._entries.get(uri)
            if entry is not None and time.monotonic() - entry.checked < self.refresh_seconds:
                return entry.app
            try:
                app = await asyncio.to_thread(self._load, uri, name, entry)
            except NotFoundError:
                self._entries.pop(uri, None)
                raise
            self._entries[uri] = _Entry(app)
            self._entries.move_to_end(uri)
            while len(self._entries) > self.max_models:
                self._entries.popitem(last=False)
            return app

    def _load(self, uri: str, name: str, entry: _Entry | None) -> ScoringApp:
        path = resolve_model_uri(uri, self.resolver)
        if entry is not None and read_mlmodel(path).model_uuid == entry.app.slots.champion.model_uuid:
            return entry.app
        model = load_model(path)
        model.uri = uri
        recorder = self.recorder_for(name) if self.recorder_for is not None else None
        metrics = self.metrics_for(uri) if self.metrics_for is not None else None
        return ScoringApp(ModelSlots(model, variant=_variant(uri)), metrics=metrics,
                          max_body_bytes=self.max_body_bytes, recorder=recorder)

    def loaded(self) -> list[str]:
        """URIs currently loaded, least recently used first."""
        return list(self._entries)

    def served(self) -> dict[str, ScoringApp]:
        """The scoring app of every loaded URI (its ``metrics`` count that URI's requests), LRU first."""
        return {uri: entry.app for uri, entry in self._entries.items()}


def _variant(uri: str) -> str:
    """``challenger`` for ``models:/NAME@challenger`` (MLflow's alias for the model being tried), so its
    samples stay out of the model's drift and live performance; ``champion`` for every other reference."""
    return "challenger" if uri.endswith("@challenger") else "champion"


async def _send(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
