"""Registered models scored by the opsloop server itself: ``/serving/{name}/{version|alias}/invocations``.

The same MLflow scoring protocol as ``opsloop serve``, for every model in the registry, resolved from
the server's own store (no download over HTTP). Dedicated ``opsloop serve`` processes remain the way
to scale one model out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

from opsloop.settings import Settings

if TYPE_CHECKING:
    from opsloop.mlops.registry import LocalModelResolver

__all__ = ["register"]

PREFIX = "/serving"


class _StoreResolver:
    """Resolves ``models:/`` URIs with the running app's registry, built on first use."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._resolver: LocalModelResolver | None = None

    def __call__(self, uri: str) -> Path:
        if self._resolver is None:
            from opsloop.mlops.registry import LocalModelResolver

            self._resolver = LocalModelResolver.for_runtime(self.app.state.runtime)
        return self._resolver(uri)


def register(app: FastAPI, settings: Settings) -> None:
    from opsloop.mlops.serving.router import RegistryScoringApp

    app.mount(PREFIX, RegistryScoringApp(_StoreResolver(app), max_body_bytes=settings.server.max_body_bytes))
