"""A filled MLflow file store and an opsloop server to import it into, shared by the import tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OPSLOOP_BIN, ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def fill_store(tracking_uri: str, workdir: Path, small: bool = False) -> dict[str, Any]:
    """Fill ``tracking_uri`` with tests/migration/_source.py in a process of its own; what it logged."""
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "tests.migration._source", tracking_uri, str(workdir),
                           *(["--small"] if small else [])], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``opsloop import-mlflow ARGS`` as a user runs it."""
    return subprocess.run([OPSLOOP_BIN, "import-mlflow", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def file_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real MLflow file store filled by the mlflow client, and what was logged into it."""
    root = tmp_path_factory.mktemp("mlflow-source")
    store = root / "mlruns"
    return store, fill_store(store.as_uri(), root / "work")


@pytest.fixture(scope="module")
def destination(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("opsloop-destination") / "data").start()
    yield server
    server.stop()
