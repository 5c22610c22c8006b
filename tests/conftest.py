"""Shared fixtures: real servers and real databases, started by the tests themselves.

- ``opsloop_server``: a factory starting ``opsloop server`` subprocesses on free loopback ports.
- ``postgres_url``: a private PostgreSQL cluster (Debian's server binaries) started once per session
  when a collected test is marked ``postgres``; ``OPSLOOP_TEST_POSTGRES_URL`` points at it (or at a
  server you already run). Under CI a missing PostgreSQL fails the run instead of skipping.
- ``s3_endpoint``: moto's S3 server on loopback.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._environ import restore_environ
from tests._postgres import PostgresCluster

OPSLOOP_BIN = str(Path(sys.executable).with_name("opsloop"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, poll: float = 0.2) -> Any:
    """``predicate()``'s first truthy value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s")


class ServerProcess:
    """A running ``opsloop server`` subprocess."""

    def __init__(self, data_dir: Path, extra: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra = extra or []
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.prefix: list[str] = []  # a command the server runs under (e.g. ``unshare``)

    def start(self) -> ServerProcess:
        env = {**os.environ, **self.env}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, OPSLOOP_BIN, "server", "--port", str(self.port), "--data-dir", str(self.data_dir),
                 *self.extra],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        try:
            wait_http(self.url + "/health", timeout=60, proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n{self.log.read_text(errors='replace')[-3000:]}") from None
        return self

    def aiops_ready(self, timeout: float = 60.0) -> ServerProcess:
        """Wait until the AIOps pipeline answers: with several workers, ``/health`` can be answered by a
        follower while the leader still builds the pipeline (AIOps requests get 503 meanwhile, which
        senders retry)."""
        import httpx

        wait_until(lambda: httpx.get(self.url + "/api/opsloop/v1/incidents", timeout=30).status_code == 200,
                   timeout=timeout)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(autouse=True)
def _isolate_mlflow_client_state() -> Iterator[None]:
    """Each test starts with the mlflow client's process-wide state clean.

    ``mlflow.set_tracking_uri``/``set_experiment`` keep module globals (and write the environment),
    which would point a later test at an earlier test's server.
    """
    env_before = {k: os.environ.get(k) for k in (
        "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")}
    yield
    if "mlflow" in sys.modules:
        import mlflow
        from mlflow.tracking import fluent
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        while mlflow.active_run() is not None:
            try:
                mlflow.end_run()
            except Exception:  # noqa: BLE001 - the run's server may be gone already
                fluent._active_run_stack.get().clear()
                break
        tracking_utils._tracking_uri = None
        registry_utils._registry_uri = None
        fluent._active_experiment_id = None
    restore_environ(env_before)


@pytest.fixture
def opsloop_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(data_dir: Path | None = None, extra: list[str] | None = None,
              env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / f"data{len(started)}", extra, env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(opsloop_server) -> ServerProcess:  # noqa: ANN001
    """One opsloop server on a fresh embedded store."""
    return opsloop_server()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One opsloop server shared by a test module (for tests that do not depend on a fresh store)."""
    server = ServerProcess(tmp_path_factory.mktemp("module-server") / "data").start()
    yield server
    server.stop()


# -- PostgreSQL --------------------------------------------------------------------------------------

_PG: PostgresCluster | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config._opsloop_needs_pg = any(item.get_closest_marker("postgres") for item in items)  # type: ignore[attr-defined]


@pytest.fixture(scope="session", autouse=True)
def _postgres_for_session(request: pytest.FixtureRequest) -> Iterator[None]:
    global _PG
    if os.environ.get("OPSLOOP_TEST_POSTGRES_URL") or not getattr(request.config, "_opsloop_needs_pg", False):
        yield
        return
    if not PostgresCluster.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing; scripts/install-system-deps.sh installs them")
        yield
        return
    import tempfile

    # Not under pytest's tmp dir: that one is private to root, and PostgreSQL runs as 'postgres'.
    _PG = PostgresCluster(Path(tempfile.mkdtemp(prefix="opsloop-pg-")), free_port())
    _PG.start()
    os.environ["OPSLOOP_TEST_POSTGRES_URL"] = _PG.url
    try:
        yield
    finally:
        os.environ.pop("OPSLOOP_TEST_POSTGRES_URL", None)
        _PG.stop()


@pytest.fixture
def postgres_url() -> str:
    """A URL of an empty database of its own for this test."""
    base = os.environ.get("OPSLOOP_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("no PostgreSQL: install Debian's postgresql or set OPSLOOP_TEST_POSTGRES_URL")
    return PostgresCluster.fresh_database(base)


# -- S3 ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    import uuid

    import boto3

    name = f"opsloop-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


class _WebPage(http.server.BaseHTTPRequestHandler):
    """Another web application at the URL: an HTML page for every path and method."""

    def _page(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _page

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web_page_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
