"""The server worker keeps the collector off its long-lived heap: ingestion spent about a tenth of its
CPU in full collections walking the libraries and the app, which never become garbage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = "import gc, opsloop.server.asgi; print(gc.get_freeze_count(), gc.get_threshold()[0])"


def test_the_server_worker_freezes_its_startup_heap_and_collects_young_objects_less_often(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("OPSLOOP_SETTINGS_JSON", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120, check=True).stdout.split()
    frozen, threshold = int(out[0]), int(out[1])
    assert frozen > 10_000, "the imported libraries and the app are frozen"
    assert threshold >= 10_000
