"""A filled MLflow file store and an opsloop server to import it into, shared by the import tests."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._environ import restore_environ, saved_environ
from tests.conftest import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def start_fill(tracking_uri: str, workdir: Path, *flags: str) -> subprocess.Popen[str]:
    """Start filling ``tracking_uri`` with tests/migration/_source.py, in a process of its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    # run in workdir: a database store puts artifacts in ./mlruns of the working directory
    return subprocess.Popen([sys.executable, "-m", "tests.migration._source", tracking_uri, str(workdir), *flags],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONPATH": str(ROOT)})


def finish_fill(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """What the fill started by ``start_fill`` logged."""
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def run_cli(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    """``opsloop ARGS`` in this process (the real entry point): exit code, stdout, stderr."""
    from opsloop.cli import main

    saved = saved_environ(env or {})
    for key, value in (env or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        restore_environ(saved)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def _source_and_destination(tmp_path_factory: pytest.TempPathFactory
                            ) -> Iterator[tuple[Path, dict[str, Any], ServerProcess]]:
    root = tmp_path_factory.mktemp("mlflow-source")
    store = root / "mlruns"
    filling = start_fill(store.as_uri(), root / "work")  # meanwhile the server starts
    server = ServerProcess(tmp_path_factory.mktemp("opsloop-destination") / "data").start()
    try:
        filled = finish_fill(filling)
        yield store, filled, server
    finally:
        filling.kill()
        server.stop()


@pytest.fixture(scope="session")
def file_store(_source_and_destination: tuple[Path, dict[str, Any], ServerProcess]) -> tuple[Path, dict[str, Any]]:
    """A real MLflow file store filled by the mlflow client, and what was logged into it."""
    return _source_and_destination[0], _source_and_destination[1]


@pytest.fixture(scope="session")
def destination(_source_and_destination: tuple[Path, dict[str, Any], ServerProcess]) -> ServerProcess:
    """The opsloop server the tests import into."""
    return _source_and_destination[2]
