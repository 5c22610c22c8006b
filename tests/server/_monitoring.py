"""A server's model monitoring in-process, its schedule off (the tests drive it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from opsloop.server.app import create_app
from opsloop.server.monitoring import ServerMonitoring
from opsloop.settings import load_settings


@contextmanager
def server_monitoring(tmp_path: Path, **monitoring: Any) -> Iterator[ServerMonitoring]:
    """``monitoring``: more ``monitoring`` settings (e.g. ``health={"max_error_rate": 0.5}``)."""
    settings = load_settings({"storage": {"data_dir": str(tmp_path)},
                              "monitoring": {"drift_interval_s": 0, **monitoring}}, environ={})
    with TestClient(create_app(settings)) as http:
        yield http.app.state.model_monitoring  # type: ignore[attr-defined]
