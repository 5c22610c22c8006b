"""Builders shared by the runbook tests: configure runbooks, wait for runs to finish."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx
import pytest
from tests.aiops.ingestion._helpers import API

from opsloop.aiops.pipeline import Pipeline
from opsloop.aiops.runbooks import ModelGate, RunbookRunner
from opsloop.core.signals import Severity, Signal
from opsloop.settings import Settings, load_settings

FINAL = ("succeeded", "failed", "gate_failed")
# Parametrizes a test over the SQL backends its ``backend`` argument names (see ``backend_settings``).
BACKENDS = pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])


def backend_settings(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> Settings:
    """Settings of an embedded store in ``tmp_path``, on a database of its own on PostgreSQL for ``postgres``."""
    storage = {"data_dir": str(tmp_path / "data")}
    if backend == "postgres":
        storage["database_url"] = request.getfixturevalue("postgres_url")
    return load_settings({"storage": storage}, environ={})


def python(code: str) -> list[str]:
    """argv running ``code`` with this interpreter."""
    return [sys.executable, "-c", code]


def configure(client: Any, runbooks: list[dict[str, Any]]) -> Any:
    r = client.put(API + "/aiops/config/runbooks", json=runbooks)
    assert r.status_code == 200, r.text
    return r


def runs(client: Any, **params: Any) -> list[dict[str, Any]]:
    r = client.get(API + "/runbooks/runs", params=params)
    assert r.status_code == 200, r.text
    return r.json()["runs"]


def wait_runs(client: Any, count: int, timeout: float = 60.0, **params: Any) -> list[dict[str, Any]]:
    """The first ``count`` runs (oldest first) once all of them reached a final state."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = sorted(runs(client, **params), key=lambda r: r["id"])
        if len(found) >= count and all(r["state"] in FINAL for r in found[:count]):
            return found[:count]
        time.sleep(0.1)
    raise AssertionError(f"runs did not finish: {[(r['id'], r['state']) for r in found]}")


def http(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30.0)


def drift_incident(pipeline: Pipeline) -> int:
    """Open an incident about model ``m`` on ``pipeline``; its id."""
    report = pipeline.ingest([Signal(time=time.time(), source="test", kind="alert", service="m",
                                     labels={"alertname": "Drift"}, severity=Severity.WARNING, text="drift")])
    (incident_id,) = report.opened
    return incident_id


def run_queued(pipeline: Pipeline, gate: ModelGate) -> None:
    """Run the queued runs of ``pipeline`` with a ``RunbookRunner`` over ``gate``, until they finish."""
    runner = RunbookRunner(pipeline.runbooks.runs, pipeline.stores.incidents, base_url="http://127.0.0.1:1",
                           gate=gate)

    async def go() -> None:
        await runner.run_once()
        await runner.wait_idle()

    asyncio.run(go())


class OneCandidateGate:
    """A registry stand-in where version 1 is champion and the training program "registers" version 2;
    subclasses say how its validation and promotion go."""

    def latest_version(self, model: str) -> int | None:
        return 1

    def new_versions(self, model: str, after: int | None) -> list[tuple[int, dict[str, str]]]:
        return [(2, {})]

    def check_policy(self, policy: dict[str, Any] | str | None) -> None:
        pass
