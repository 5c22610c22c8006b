"""Registered models scored by the opsloop server itself: ``/serving/{name}/{version|alias}/invocations``.

The same MLflow scoring protocol as ``opsloop serve``, for every model in the registry, resolved from
the server's own store (no download over HTTP). Dedicated ``opsloop serve`` processes remain the way
to scale one model out. Sampled requests go to the server's model monitoring (``server/monitoring.py``);
the scoring app is ``app.state.scoring``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

from opsloop.settings import Settings

if TYPE_CHECKING:
    from opsloop.mlops.registry import LocalModelResolver
    from opsloop.mlops.serving.app import PredictionRecorder

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


class _Recorders:
    """The recorder of a model name: the server's model monitoring's, once its lifespan runs."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __call__(self, name: str) -> PredictionRecorder | None:
        monitoring = getattr(self.app.state, "model_monitoring", None)
        return monitoring.recorder_for(name) if monitoring is not None else None


def register(app: FastAPI, settings: Settings) -> None:
    from opsloop.mlops.serving.router import RegistryScoringApp

    scoring = RegistryScoringApp(_StoreResolver(app), max_body_bytes=settings.server.max_body_bytes,
                                 recorder_for=_Recorders(app))
    app.state.scoring = scoring
    app.mount(PREFIX, scoring)
