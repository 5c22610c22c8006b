"""A Prometheus that does not answer in time (a heavy query, an overloaded server) leaves its query with
an error that says so: httpx's timeouts have no message, so the status showed an empty error, as if the
pull had gone well."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from tests.aiops.ingestion._helpers import API

from opsloop.aiops.ingestion.prometheus_pull import PullScheduler


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        time.sleep(1.0)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "success", "data": {"resultType": "matrix", "result": []}}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_slow_prometheus_leaves_an_error_saying_so(client, slow_url: str) -> None:  # noqa: ANN001
    r = client.put(API + "/aiops/config/prometheus_queries",
                   json=[{"name": "heavy", "url": slow_url, "query": "up", "interval_s": 30}])
    assert r.status_code == 200, r.text
    scheduler = PullScheduler(client.app.state.aiops)

    async def pull() -> int:
        async with httpx.AsyncClient(timeout=0.2) as c:
            return await scheduler.run_once(c)

    assert asyncio.run(pull()) == 0
    [status] = scheduler.status()
    assert status["name"] == "heavy" and "did not answer in time" in (status["error"] or ""), status
