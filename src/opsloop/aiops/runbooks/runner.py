"""Runs queued runbook runs in the background: bounded concurrency, one run per runbook at a time.

``RunbookRunner.run`` loops until stopped: it claims queued runs (oldest first; a runbook with a run
in progress waits, so two retrains of one model never race), executes each as an asyncio task —
programs are subprocesses and the validation gate runs in a worker thread, so the event loop and
ingestion are never blocked — and records the outcome, the incident's timeline entry and the audit
record in one transaction. A run whose worker died (its lease ran out) is recorded as ``failed``;
runs still running when the server stops are killed and recorded as ``failed`` (interrupted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time as _time
from collections.abc import Callable
from typing import Any

import orjson

from opsloop.aiops.incidents.notifications import first_set
from opsloop.aiops.runbooks.catalog import runbook_actor
from opsloop.aiops.runbooks.config import Action, Runbook
from opsloop.aiops.runbooks.gate import ModelGate, check_retrain
from opsloop.aiops.runbooks.process import ProcessResult, run_process
from opsloop.aiops.runbooks.states import FAILED, GATE_FAILED, RUNNING, SUCCEEDED
from opsloop.errors import InvalidInputError, OpsloopError
from opsloop.storage.sql.incidents import SqlIncidentStore
from opsloop.storage.sql.runbooks import SqlRunbookStore

__all__ = ["RunbookRunner"]

log = logging.getLogger("opsloop.aiops.runbooks")

LEASE_MARGIN_S = 120.0
_HIDDEN_ENV = ("OPSLOOP_SETTINGS_JSON",)  # the server's own settings are not the program's
RUN_TAG = "opsloop.runbook_run_id"
RUN_CONTEXT_ENV = "MLFLOW_RUN_CONTEXT"  # JSON tags the mlflow client puts on every run it starts


class RunbookRunner:
    def __init__(self, runs: SqlRunbookStore, incidents: SqlIncidentStore, *, base_url: str,
                 gate: ModelGate | None = None, max_concurrent: int = 2,
                 clock: Callable[[], float] = _time.time) -> None:
        self.runs = runs
        self.incidents = incidents
        self.base_url = base_url.rstrip("/")
        self.gate = gate
        self.max_concurrent = max(1, max_concurrent)
        self.clock = clock
        self.active: dict[int, asyncio.Task[None]] = {}
        self._busy: set[str] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look for queued runs now (safe to call from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    # --- the loop -------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, idle_s: float = 1.0) -> None:
        """Start queued runs until ``stop`` is set; then kill and record the runs in progress."""
        self._loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except Exception:  # noqa: BLE001 - a DB hiccup must not stop the runner
                    log.exception("runbook runner failed")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(first_set(stop, self._wake), timeout=idle_s)
        finally:
            await self.shutdown()

    async def run_once(self) -> int:
        """Record runs whose lease expired, then start due runs up to the concurrency bound."""
        await asyncio.to_thread(self._expire)
        if len(self.active) >= self.max_concurrent:
            return 0
        queued = await asyncio.to_thread(self.runs.queued)
        busy = self._busy | await asyncio.to_thread(self.runs.running_runbooks)
        started = 0
        for run in queued:
            if len(self.active) >= self.max_concurrent:
                break
            if run["runbook"] in busy:
                continue
            now = self.clock()
            lease = now + _budget_s(run["spec"]) + LEASE_MARGIN_S
            if not await asyncio.to_thread(self.runs.claim, run["id"], now, lease):
                continue  # another worker took it
            busy.add(run["runbook"])
            self._start(run)
            started += 1
        return started

    def _start(self, run: dict[str, Any]) -> None:
        self._busy.add(run["runbook"])
        task = asyncio.create_task(self._execute(run), name=f"runbook-run-{run['id']}")
        self.active[run["id"]] = task

        def done(_: asyncio.Task[None]) -> None:
            self.active.pop(run["id"], None)
            self._busy.discard(run["runbook"])
            self._wake.set()

        task.add_done_callback(done)

    async def wait_idle(self) -> None:
        """Wait until no run is in progress here (for tests and orderly shutdown)."""
        while self.active:
            await asyncio.gather(*list(self.active.values()), return_exceptions=True)

    async def shutdown(self) -> None:
        tasks = list(self.active.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one run --------------------------------------------------------------------------------
    async def _execute(self, run: dict[str, Any]) -> None:
        try:
            rb = Runbook.from_dict(run["spec"])
            if rb.action.type == "retrain":
                fields = await self._retrain(run, rb.action)
            else:
                fields = await self._command(run, rb.action)
        except asyncio.CancelledError:
            error = "interrupted: the server stopped during the run"
            if run.get("_promoting"):  # the promotion's thread cannot be stopped; it may have moved the alias
                error += " (while promoting its candidate; see the model's promotions)"
            self._record(run, {"state": FAILED, "error": error})
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is the run's outcome, not the runner's
            log.exception("runbook run %s failed", run["id"])
            fields = {"state": FAILED, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        await asyncio.to_thread(self._record, run, fields)

    async def _program(self, run: dict[str, Any], action: Action, extra_env: dict[str, str] | None = None,
                       tag_runs: bool = False) -> ProcessResult:
        env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_ENV}
        env.update(self._context_env(run))
        env.update(extra_env or {})
        env.update(action.env)
        if tag_runs:
            env[RUN_CONTEXT_ENV] = run_context(env.get(RUN_CONTEXT_ENV), run["id"])
        return await run_process(action.argv, stdin=orjson.dumps(run["payload"]), env=env, cwd=action.cwd,
                                 timeout_s=action.timeout_s)

    async def _command(self, run: dict[str, Any], action: Action) -> dict[str, Any]:
        """Run the program, again after a failure while ``retries`` last; each failed attempt that is
        retried is a timeline entry of the incident."""
        attempts = action.retries + 1
        attempt = 1
        fields = self._outcome(await self._program(run, action))
        while fields["state"] != SUCCEEDED and attempt < attempts:
            delay = action.delay_before(attempt + 1)
            await asyncio.to_thread(self._note, run, f"runbook {run['runbook']!r}: attempt {attempt} of {attempts} "
                                    f"failed ({fields['error']}); again in {delay:g}s"[:1000])
            await asyncio.sleep(delay)
            attempt += 1
            fields = self._outcome(await self._program(run, action))
        if attempts > 1:
            run["_attempt"] = (attempt, attempts)
        return fields

    def _note(self, run: dict[str, Any], text: str) -> None:
        with self.runs.db.write() as conn:
            self.incidents.add_timeline(conn, [_timeline_entry(run, self.clock(), text)])

    def _context_env(self, run: dict[str, Any]) -> dict[str, str]:
        inc = run["payload"].get("incident", {})
        return {"OPSLOOP_URL": self.base_url, "OPSLOOP_INCIDENT_ID": str(run["incident_id"]),
                "OPSLOOP_INCIDENT_TITLE": str(inc.get("title", "")), "OPSLOOP_INCIDENT_SEVERITY":
                str(inc.get("severity", "")), "OPSLOOP_INCIDENT_SERVICE": str(inc.get("service", "")),
                "OPSLOOP_RUNBOOK": run["runbook"], "OPSLOOP_RUN_ID": str(run["id"]),
                "OPSLOOP_TRIGGER": run["trigger"]}

    @staticmethod
    def _outcome(result: ProcessResult) -> dict[str, Any]:
        fields: dict[str, Any] = {"exit_code": result.exit_code, "output": result.output, "error": result.error}
        if result.ok:
            fields["state"] = SUCCEEDED
        else:
            fields["state"] = FAILED
            fields["error"] = result.error or f"exited with status {result.exit_code}"
        return fields

    async def _retrain(self, run: dict[str, Any], action: Action) -> dict[str, Any]:
        target = action.retrain
        assert target is not None
        gate = self.gate
        if gate is None:
            return {"state": FAILED, "error": "this server has no model registry to validate a retrained model with"}
        try:  # the policy file may have gone (or changed) since the runbook was configured
            await asyncio.to_thread(check_retrain, gate, run["runbook"], target)
        except InvalidInputError as exc:
            return {"state": FAILED, "error": f"{exc.message} (found before training: nothing was trained)"[:2000]}
        deadline = self.clock() + action.timeout_s  # timeout_s bounds training and validation together
        before = await asyncio.to_thread(gate.latest_version, target.model)
        result = await self._program(run, action, {"MLFLOW_TRACKING_URI": self.base_url,
                                                   "OPSLOOP_MODEL_NAME": target.model,
                                                   "OPSLOOP_MODEL_ALIAS": target.alias}, tag_runs=True)
        fields = self._outcome(result)
        if fields["state"] != SUCCEEDED:
            return fields
        found = await asyncio.to_thread(gate.new_versions, target.model, before)
        after, problem = pick_candidate(found, run["id"], target.model)
        if after is None:
            return {**fields, "state": FAILED, "error": problem}
        fields["candidate_version"] = str(after)
        left = deadline - self.clock()
        await asyncio.to_thread(self._update, run["id"], {"candidate_version": str(after),
                                                          "lease_until": deadline + LEASE_MARGIN_S})
        try:
            verdict = await asyncio.wait_for(asyncio.to_thread(
                gate.validate, target.model, str(after), alias=target.alias, data=target.data,
                policy=target.policy), timeout=max(left, 0.001))
        except TimeoutError:
            return {**fields, "state": FAILED, "error": f"validating version {after} did not finish within the "
                    f"run's timeout_s ({action.timeout_s:g} s, training included); {target.alias!r} did not move"}
        except OpsloopError as exc:
            return {**fields, "state": FAILED, "error": f"validating version {after} failed: {exc.message}"}
        verdict["promoted"] = False
        if verdict.get("passed"):
            run["_promoting"] = True  # a stop from here on may still see the alias move
            try:
                await asyncio.to_thread(
                    gate.promote, target.model, str(after), alias=target.alias, actor=runbook_actor(run["runbook"]),
                    reason=f"runbook {run['runbook']!r} (run #{run['id']}) for incident #{run['incident_id']}")
            except OpsloopError as exc:
                return {**fields, "validation": verdict, "state": FAILED,
                        "error": f"promoting version {after} failed: {exc.message}"}
            verdict["promoted"] = True
        fields["validation"] = verdict
        fields["state"] = SUCCEEDED if verdict["promoted"] else GATE_FAILED
        return fields

    # --- records --------------------------------------------------------------------------------
    def _update(self, run_id: int, fields: dict[str, Any]) -> None:
        with self.runs.db.write() as conn:
            self.runs.update(conn, run_id, fields)

    def _record(self, run: dict[str, Any], fields: dict[str, Any], from_states: tuple[str, ...] = (RUNNING,)) -> None:
        now = self.clock()
        fields = {**fields, "finished_at": now, "lease_until": None}
        state = fields["state"]
        with self.runs.db.write() as conn:
            if not self.runs.finish(conn, run["id"], fields, from_states=from_states):
                return
            self.incidents.add_timeline(conn, [_timeline_entry(
                run, now, describe(run, fields), state=state, candidate_version=fields.get("candidate_version"))])
            self.incidents.audit(conn, runbook_actor(run["runbook"]), state, "runbook_run", run["id"], {
                "runbook": run["runbook"], "incident_id": run["incident_id"], "exit_code": fields.get("exit_code"),
                "error": fields.get("error", ""), "candidate_version": fields.get("candidate_version"),
                "promoted": bool((fields.get("validation") or {}).get("promoted"))}, at=now)

    def _expire(self) -> None:
        for run in self.runs.expired(self.clock()):
            if run["id"] not in self.active:
                self._record(run, {"state": FAILED, "error": "interrupted: its server stopped during the run"})


def run_context(current: str | None, run_id: int) -> str:
    """``MLFLOW_RUN_CONTEXT`` for a retrain program: the tags it already names, plus ``RUN_TAG``."""
    tags: dict[str, Any] = {}
    if current:
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(current)
            tags = parsed if isinstance(parsed, dict) else {}
    return orjson.dumps({**tags, RUN_TAG: str(run_id)}).decode()


def pick_candidate(found: list[tuple[int, dict[str, str]]], run_id: int, model: str) -> tuple[int | None, str]:
    """The version a retrain run registered, among the versions that appeared while it ran.

    A version whose run (or the version itself) carries ``RUN_TAG`` = this run is this run's (the
    newest such, if it registered several). Otherwise a single new untagged version is taken as
    this run's; versions tagged for other runs are never taken. Anything else is ambiguous: the run
    fails rather than validate another team's model. Returns ``(version, "")`` or ``(None, why)``.
    """
    mine = [v for v, tags in found if tags.get(RUN_TAG) == str(run_id)]
    if mine:
        return max(mine), ""
    untagged = sorted(v for v, tags in found if RUN_TAG not in tags)
    if len(untagged) == 1:
        return untagged[0], ""
    if not untagged:
        return None, f"the training command registered no new version of {model!r}"
    return None, (f"{len(untagged)} new versions of {model!r} appeared during the run ({', '.join(map(str, untagged))}) "
                  f"and none is tagged {RUN_TAG}={run_id}: register from an mlflow run started in the program "
                  f"(its runs get that tag), or set the tag on the version")


def describe(run: dict[str, Any], fields: dict[str, Any]) -> str:
    """The timeline line for a finished run."""
    name, state = run["runbook"], fields["state"]
    verdict = fields.get("validation") or {}
    if verdict:
        spec = run["spec"]["action"]
        model, alias, cand = spec.get("model"), spec.get("alias", "champion"), fields.get("candidate_version")
        champion = verdict.get("champion_version")
        if state == SUCCEEDED:
            return f"runbook {name!r}: {model} version {cand} passed its gate; {model}@{alias} → version {cand}"
        if verdict.get("passed"):  # the registry refused the move (a stale validation: another one moved it)
            return (f"runbook {name!r}: {model} version {cand} passed its gate, but {fields.get('error')}; "
                    f"{model}@{alias} did not move to it")[:1000]
        failed = [_why(r) for r in verdict.get("rules", []) if r.get("status") not in ("passed", "skipped")]
        stays = f"stays at version {champion}" if champion else "stays unset"
        return (f"runbook {name!r}: {model} version {cand} failed its gate ({'; '.join(failed) or 'not passed'}); "
                f"{model}@{alias} {stays}")[:1000]
    tried = run.get("_attempt")  # (attempt, attempts) of a command with retries
    attempt = f"attempt {tried[0]} of {tried[1]}" if tried else ""
    if state == SUCCEEDED:
        return f"runbook {name!r} succeeded (exit {fields.get('exit_code')}{', ' + attempt if attempt else ''})"
    why = fields.get("error") or "unknown error"
    return (f"runbook {name!r} failed ({attempt}): {why}" if attempt else f"runbook {name!r} failed: {why}")[:1000]


def _why(rule: dict[str, Any]) -> str:
    """A rule the candidate did not pass, with what it measured: ``accuracy >= 0.8: 0.46 (bound 0.8)``, or
    why it could not be measured (a rule in ``error`` is not a candidate below its bound)."""
    text, value, bound = rule.get("rule"), rule.get("candidate"), rule.get("bound")
    if rule.get("status") == "failed" and isinstance(value, int | float) and isinstance(bound, int | float):
        return f"{text}: {value:.4g} (bound {bound:.4g})"
    return f"{text}: {rule.get('status')}{' — ' + rule['note'] if rule.get('note') else ''}"


def _timeline_entry(run: dict[str, Any], now: float, text: str, **data: Any) -> dict[str, Any]:
    """A runbook line on the run's incident timeline."""
    return {"incident_id": run["incident_id"], "time": now, "kind": "runbook", "actor": runbook_actor(run["runbook"]),
            "text": text, "data": {"run_id": run["id"], "runbook": run["runbook"], **data}}


def _budget_s(spec: dict[str, Any]) -> float:
    """How long a stored run's action may take (its lease, less the margin); a spec that no longer
    parses gets its ``timeout_s``."""
    try:
        return Runbook.from_dict(spec).action.budget_s
    except OpsloopError:
        return float(spec.get("action", {}).get("timeout_s", 300))
