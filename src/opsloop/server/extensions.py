"""Where each feature area attaches its routes to the app.

Each area exposes ``register(app, settings)`` in its ``server/routes`` module; listing them here keeps
the composition explicit.
"""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI

from opsloop.settings import Settings

__all__ = ["mount_all"]

log = logging.getLogger("opsloop.server")

_AREAS: list[str] = [
    "opsloop.server.ui",
    "opsloop.server.registry_api",
    "opsloop.server.aiops",
    "opsloop.server.serving",
    "opsloop.server.logs",
    "opsloop.server.deployments",
    "opsloop.server.monitoring",
]


def mount_all(app: FastAPI, settings: Settings) -> None:
    for module_name in _AREAS:
        module = importlib.import_module(module_name)
        module.register(app, settings)
