"""An in-memory backend for testing code that uses the SDK, without a server or a database."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opsloop.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from opsloop.mlops.tracking.entities import DatasetInput, Experiment, Metric, Run, RunInfo, ViewType
from opsloop.sdk.transports.base import Point, Transport, artifact_base
from opsloop.storage.artifacts.base import FileInfo, safe_path

__all__ = ["MockTransport"]

Handler = Callable[[str, dict[str, Any]], None]


class MockTransport(Transport):
    """Keeps experiments, runs, metrics and artifacts in dicts.

    Args:
        handler: called as ``handler(operation, arguments)`` before every operation (e.g.
            ``"log_batch"``); it may record, block or raise to simulate a slow or failing backend.

    Every call is also appended to ``calls`` as ``(operation, arguments)``. Filters, ordering and
    paging are not implemented: searches return everything in creation order.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.experiments: dict[str, Experiment] = {}
        self.runs: dict[str, Run] = {}
        self.history: dict[tuple[str, str], list[Metric]] = {}
        self.files: dict[str, bytes] = {}
        self._lock = threading.RLock()
        self._add_experiment("Default", "0")

    def _hook(self, operation: str, **arguments: Any) -> None:
        with self._lock:
            self.calls.append((operation, arguments))
        if self.handler is not None:
            self.handler(operation, arguments)

    def _add_experiment(self, name: str, exp_id: str, tags: dict[str, str] | None = None) -> str:
        now = int(time.time() * 1000)
        self.experiments[exp_id] = Experiment(exp_id, name, f"mlflow-artifacts:/{exp_id}", "active", now, now,
                                              dict(tags or {}))
        return exp_id

    # -- experiments ------------------------------------------------------------------------------
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        self._hook("create_experiment", name=name, tags=tags)
        with self._lock:
            if any(e.name == name for e in self.experiments.values()):
                raise AlreadyExistsError(f"Experiment '{name}' already exists.", field="name")
            return self._add_experiment(name, str(len(self.experiments)), tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        self._hook("get_experiment", experiment_id=experiment_id)
        if experiment_id not in self.experiments:
            raise NotFoundError(f"No Experiment with id={experiment_id} exists", field="experiment_id")
        return self.experiments[experiment_id]

    def get_experiment_by_name(self, name: str) -> Experiment:
        self._hook("get_experiment_by_name", name=name)
        for exp in self.experiments.values():
            if exp.name == name:
                return exp
        raise NotFoundError(f"Could not find experiment with name '{name}'", field="experiment_name")

    def search_experiments(self, *, filter_string: str | None = None, order_by: Sequence[str] = (),
                           max_results: int = 1000, page_token: str | None = None,
                           view_type: int = ViewType.ACTIVE_ONLY) -> tuple[list[Experiment], str | None]:
        self._hook("search_experiments", filter_string=filter_string, order_by=order_by)
        return list(self.experiments.values())[:max_results], None

    # -- runs -------------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, *, run_name: str | None = None, tags: dict[str, str] | None = None,
                   start_time: int | None = None) -> Run:
        self._hook("create_run", experiment_id=experiment_id, run_name=run_name, tags=tags)
        exp = self.get_experiment(experiment_id)
        run_id = uuid.uuid4().hex
        name = run_name or f"run-{len(self.runs)}"
        info = RunInfo(run_id, experiment_id, name, (tags or {}).get("mlflow.user", ""), "RUNNING",
                       start_time or int(time.time() * 1000), None,
                       f"{exp.artifact_location}/{run_id}/artifacts", "active")
        with self._lock:
            self.runs[run_id] = Run(info, tags={**(tags or {}), "mlflow.runName": name})
        return self.runs[run_id]

    def get_run(self, run_id: str) -> Run:
        self._hook("get_run", run_id=run_id)
        if run_id not in self.runs:
            raise NotFoundError(f"Run with id={run_id} not found", field="run_id")
        return self.runs[run_id]

    def update_run(self, run_id: str, *, status: str | None = None, end_time: int | None = None) -> None:
        self._hook("update_run", run_id=run_id, status=status, end_time=end_time)
        info = self.get_run(run_id).info
        info.status = status or info.status
        info.end_time = end_time if end_time is not None else info.end_time

    def log_batch(self, run_id: str, *, metrics: Sequence[Point] = (), params: dict[str, str] | None = None,
                  tags: dict[str, str] | None = None) -> None:
        self._hook("log_batch", run_id=run_id, metrics=list(metrics), params=params, tags=tags)
        run = self.get_run(run_id)
        if len(metrics) > 1000:
            raise InvalidInputError("A batch logging request can contain at most 1000 metrics", field="metrics")
        with self._lock:
            for key, param in (params or {}).items():
                if run.params.get(key, param) != param:
                    raise InvalidInputError(f"Changing param values is not allowed (key={key!r})", field="params")
            run.params.update(params or {})
            run.tags.update(tags or {})
            latest = {m.key: m for m in run.metrics}
            for key, value, ts, step in metrics:
                point = Metric(key, value, ts, step, run_id=run_id)
                self.history.setdefault((run_id, key), []).append(point)
                cur = latest.get(key)
                if cur is None or (step, ts) >= (cur.step, cur.timestamp):
                    latest[key] = point
            run.metrics = list(latest.values())

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self._hook("log_inputs", run_id=run_id, datasets=list(datasets))
        self.get_run(run_id).dataset_inputs.extend(datasets)

    def get_metric_history(self, run_id: str, key: str, *, max_results: int | None = None,
                           page_token: str | None = None) -> tuple[list[Metric], str | None]:
        self._hook("get_metric_history", run_id=run_id, key=key)
        self.get_run(run_id)
        points = sorted(self.history.get((run_id, key), []),
                        key=lambda m: (m.step, m.timestamp, -math.inf if math.isnan(m.value) else m.value))
        return points, None

    def search_runs(self, experiment_ids: Sequence[str], *, filter_string: str | None = None,
                    order_by: Sequence[str] = (), max_results: int = 1000, page_token: str | None = None,
                    view_type: int = ViewType.ACTIVE_ONLY) -> tuple[list[Run], str | None]:
        self._hook("search_runs", experiment_ids=list(experiment_ids), filter_string=filter_string)
        found = [r for r in self.runs.values() if r.info.experiment_id in set(experiment_ids)]
        return found[:max_results], None

    # -- artifacts --------------------------------------------------------------------------------
    @staticmethod
    def _key(artifact_uri: str, path: str) -> str:
        base, rel = artifact_base(artifact_uri), safe_path(path)
        return f"{base}/{rel}" if base and rel else (base or rel)

    def upload_artifact(self, artifact_uri: str, path: str, local_file: Path) -> None:
        self._hook("upload_artifact", artifact_uri=artifact_uri, path=path)
        self.files[self._key(artifact_uri, safe_path(path, allow_empty=False))] = local_file.read_bytes()

    def list_artifacts(self, artifact_uri: str, path: str = "") -> list[FileInfo]:
        self._hook("list_artifacts", artifact_uri=artifact_uri, path=path)
        rel = safe_path(path)
        prefix = self._key(artifact_uri, rel) + "/"
        children: dict[str, FileInfo] = {}
        for key, data in self.files.items():
            if key.startswith(prefix):
                head, _, rest = key[len(prefix):].partition("/")
                child = f"{rel}/{head}" if rel else head
                children[child] = FileInfo(child, True) if rest else FileInfo(child, False, len(data))
        return [children[k] for k in sorted(children)]

    def download_artifact(self, artifact_uri: str, path: str, dst: Path) -> None:
        self._hook("download_artifact", artifact_uri=artifact_uri, path=path)
        key = self._key(artifact_uri, safe_path(path, allow_empty=False))
        if key not in self.files:
            raise NotFoundError(f"No artifact at {path!r}", field="path")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(self.files[key])
