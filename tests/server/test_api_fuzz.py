"""Property-based fuzzing of the opsloop API from its own OpenAPI document: no generated request,
however odd (huge numbers, odd strings, wrong types, missing fields), may get a 5xx answer.

Runs the real ``schemathesis`` CLI against a real server holding a few incidents, a silence and a
log template, so the id-taking routes reach the store, not only the 404 path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

API = "/api/opsloop/v1"


def _seed(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        for i in range(3):
            r = c.post(API + "/events", json={"kind": "alert", "source": "fuzz", "service": f"svc{i}",
                                             "labels": {"alertname": f"High{i}"}, "severity": "error", "text": "x"})
            assert r.status_code == 200, r.text
        r = c.post(API + "/silences", json={"matchers": ['service="svc1"'], "ends_at": 4_000_000_000, "comment": "c"})
        assert r.status_code in (200, 201), r.text
        r = c.post("/v1/logs", json={"resourceLogs": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "svc0"}}]}, "scopeLogs": [{"logRecords": [
                {"timeUnixNano": "1700000000000000000", "body": {"stringValue": f"user {n} logged in"}}
                for n in range(5)]}]}]})
        assert r.status_code == 200, r.text


def test_no_request_the_schema_allows_or_not_gets_a_server_error(opsloop_server, tmp_path: Path) -> None:  # noqa: ANN001
    server = opsloop_server()
    _seed(server.url)
    cli = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run(
        [str(cli), "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error", "--max-examples", "25",
         "--seed", "20261124",
         "--exclude-path", "/api/v1/write",  # snappy protobuf: no generator for it; tested on its own
         "--workers", "1", "--no-color", "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=540, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    summary = proc.stdout[proc.stdout.find("FAILURES"):] if "FAILURES" in proc.stdout else proc.stdout[-3000:]
    assert proc.returncode == 0, summary + proc.stderr[-2000:]
    assert "Tested:" in proc.stdout, proc.stdout  # it did run the operations
