"""ASGI entry point for uvicorn workers: ``opsloop.server.asgi:app``."""

from __future__ import annotations

import gc
import os

from opsloop.server.app import create_app
from opsloop.settings import Settings, load_settings


def _settings() -> Settings:
    # `opsloop server` resolves settings once and passes them to its workers whole.
    raw = os.environ.get("OPSLOOP_SETTINGS_JSON")
    return Settings.model_validate_json(raw) if raw else load_settings()


app = create_app(_settings())
# The libraries and the app live as long as the worker: out of the collector's reach (a full collection
# then walks only what ingestion keeps), and young objects collected less often (one ingested batch makes
# thousands, most gone with its request). Ingestion spent about a tenth of its CPU in the collector.
gc.freeze()
gc.set_threshold(10_000, 10, 10)
