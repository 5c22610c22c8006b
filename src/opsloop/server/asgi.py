"""ASGI entry point for uvicorn workers: ``opsloop.server.asgi:app``."""

from __future__ import annotations

import os

from opsloop.server.app import create_app
from opsloop.settings import Settings, load_settings


def _settings() -> Settings:
    # `opsloop server` resolves settings once and passes them to its workers whole.
    raw = os.environ.get("OPSLOOP_SETTINGS_JSON")
    return Settings.model_validate_json(raw) if raw else load_settings()


app = create_app(_settings())
