"""Runbook API: the configured runbooks, their runs, and a manual run on an incident; plus the runner.

The runbooks themselves are the ``runbooks`` pipeline setting (``PUT /api/opsloop/v1/aiops/config/runbooks``).
The AIOps leader (``opsloop.server.aiops.leader``) runs a ``RunbookRunner`` while it leads (``running``), with a
``RegistryGate``: the server's model registry and the validation gate of ``opsloop models validate``,
so a retrained candidate is validated against the alias holder and promoted through the audited path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.aiops.runbooks.states import STATES
from opsloop.errors import NotFoundError
from opsloop.server.aiops._common import actor_of, choices, pipeline
from opsloop.server.params import Offset, QueryId, RowId
from opsloop.server.wire import json_response
from opsloop.settings import Settings

__all__ = ["RegistryGate", "router", "running"]

router = APIRouter(prefix="/api/opsloop/v1", tags=["runbooks"])


class RunBody(BaseModel):
    actor: str | None = Field(None, description="Who asks (default: X-Opsloop-User header, else anonymous).")


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    """A run as the API shows it: the runbook's ``env`` values masked."""
    spec = dict(run["spec"])
    action = dict(spec.get("action") or {})
    action["env"] = {k: "***" for k in action.get("env") or {}}
    spec["action"] = action
    return {**run, "spec": spec}


@router.get("/runbooks", summary="The configured runbooks (set them with PUT /aiops/config/runbooks)")
async def list_runbooks(request: Request) -> Response:
    catalog = pipeline(request).runbooks
    return json_response({"runbooks": [rb.to_dict() for rb in catalog.runbooks.values()]})


@router.get("/runbooks/runs", summary="Runbook runs, newest first")
async def list_runs(request: Request, incident_id: QueryId = None,
                    state: str | None = Query(None, description="queued, running, succeeded, failed, gate_failed"),
                    runbook: str | None = None, limit: int = Query(100, ge=1, le=1000), offset: Offset = 0) -> Response:
    state = choices(state, STATES, "state")
    runs = await run_in_threadpool(pipeline(request).runbooks.runs.list, incident_id=incident_id, state=state,
                                   runbook=runbook, limit=limit, offset=offset)
    return json_response({"runs": [run_view(r) for r in runs]})


@router.get("/runbooks/runs/{run_id}", summary="One runbook run")
async def get_run(request: Request, run_id: RowId) -> Response:
    run = await run_in_threadpool(pipeline(request).runbooks.runs.get, run_id)
    return json_response({"run": run_view(run)})


@router.post("/incidents/{incident_id}/runbooks/{name}", status_code=202,
             summary="Run a runbook on an incident now (queued; poll the run)")
async def run_runbook(request: Request, incident_id: RowId, name: str, body: RunBody | None = None) -> Response:
    actor = actor_of(request, body.actor if body else None)
    run = await run_in_threadpool(pipeline(request).runbooks.request, incident_id, name, actor)
    return json_response({"run": run_view(run)}, status_code=202)


class RegistryGate:
    """``ModelGate`` over the server's registry store and the validation gate (``mlops.validation``)."""

    def __init__(self, runtime: Any, cache_dir: str | Path | None = None) -> None:
        self.runtime = runtime
        self.cache_dir = cache_dir

    def latest_version(self, model: str) -> int | None:
        try:
            return int(self.runtime.registry.get_model_version_by_alias(model, "latest").version)
        except NotFoundError:
            return None

    def new_versions(self, model: str, after: int | None) -> list[tuple[int, dict[str, str]]]:
        latest = self.latest_version(model)
        out: list[tuple[int, dict[str, str]]] = []
        for number in range((after or 0) + 1, (latest or 0) + 1):
            try:
                mv = self.runtime.registry.get_model_version(model, number)
            except NotFoundError:  # deleted since
                continue
            tags: dict[str, str] = {}
            if mv.run_id:
                with contextlib.suppress(NotFoundError):
                    tags.update(self.runtime.tracking.get_run(mv.run_id).tags)
            out.append((mv.version, {**tags, **mv.tags}))
        return out

    def check_policy(self, policy: dict[str, Any] | str | None) -> None:
        _read_policy(policy)

    def validate(self, model: str, version: str, *, alias: str, data: str,
                 policy: dict[str, Any] | str | None) -> dict[str, Any]:
        from opsloop.mlops.monitoring.service import read_table
        from opsloop.mlops.registry.validation_registry import LocalValidationRegistry
        from opsloop.mlops.serving.loading import load_model
        from opsloop.mlops.validation import validate_models

        registry = LocalValidationRegistry(self.runtime, cache_dir=self.cache_dir)
        rules = _read_policy(policy)
        frame = read_table(data)
        champion = registry.alias_version(model, alias)
        if champion == str(version):
            champion = None
        candidate_model = load_model(registry.version_uri(model, version), registry.resolve)
        champion_model = load_model(registry.version_uri(model, champion), registry.resolve) if champion else None
        report = validate_models(model, candidate_model, champion_model, frame, rules, candidate_label=str(version),
                                 champion_label=f"{champion} (@{alias})" if champion else None)
        validation_id = registry.store_report(model, version, report)
        return {"passed": report.passed, "alias": alias, "champion_version": champion,
                "validation_id": validation_id, "task": report.task, "rows": report.rows,
                "metrics": report.metrics,
                "rules": [{"rule": r.rule, "status": r.status, "candidate": r.candidate, "champion": r.champion,
                           "bound": r.bound, "note": r.note} for r in report.rules]}

    def promote(self, model: str, version: str, *, alias: str, actor: str, reason: str) -> None:
        self.runtime.registry.promote(model, alias, version, actor=actor, reason=reason, require_validation=True)


def _read_policy(policy: dict[str, Any] | str | None) -> Any:
    """A retrain's ``policy`` (inline keys or a file path; ``None``: the defaults) as a ``ValidationPolicy``."""
    from opsloop.mlops.validation import ValidationPolicy, load_policy

    if isinstance(policy, dict):
        return ValidationPolicy.from_dict(policy)
    return load_policy(policy) if policy else ValidationPolicy()


@asynccontextmanager
async def running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """A ``RunbookRunner`` on the pipeline's runbooks, for as long as this process leads the pipeline."""
    from opsloop.aiops.runbooks import RunbookRunner

    catalog = app.state.aiops.runbooks
    runner = RunbookRunner(catalog.runs, catalog.incidents, base_url=settings.server.local_url(),
                           gate=RegistryGate(app.state.runtime), max_concurrent=settings.runbooks.max_concurrent)
    catalog.on_queued.append(runner.wake)
    await asyncio.to_thread(catalog.attach, runner.gate)  # retrain policies are checked from now on
    app.state.runbook_runner = runner
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop), name="aiops-runbooks")
    try:
        yield
    finally:
        stop.set()
        catalog.on_queued.remove(runner.wake)
        catalog.attach(None)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=10)
