"""The embedded store, called in-process: no server needed.

Uses the same data folder layout as ``opsloop server`` (SQLite database and ``artifacts/`` in
``data_dir``), so runs logged here show up when a server is later started on that folder, and a
running server sees them at once (SQLite in WAL mode allows one writer and many readers).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from opsloop.mlops.tracking.entities import DatasetInput, Experiment, Metric, Run, ViewType
from opsloop.sdk.transports.base import Point, Transport, artifact_base
from opsloop.settings import Settings
from opsloop.storage.artifacts.base import FileInfo, safe_path

__all__ = ["LocalTransport"]

# Files up to this size are written in one call; larger ones are streamed.
_WHOLE_FILE_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


class LocalTransport(Transport):
    """Tracking on the embedded store named by ``settings`` (opened on first use).

    Args:
        settings: opsloop settings; ``settings.storage`` picks the database and artifact root.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._opened = None

    @property
    def _runtime(self):  # noqa: ANN202 - opsloop.runtime.Runtime, imported lazily (SQLAlchemy is slow to import)
        runtime = self._opened
        if runtime is None:
            with self._lock:
                if self._opened is None:
                    from opsloop.runtime import build_runtime

                    self._opened = build_runtime(self.settings)
                runtime = self._opened
        return runtime

    @property
    def _store(self):  # noqa: ANN202
        return self._runtime.tracking

    # -- experiments ------------------------------------------------------------------------------
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        return self._store.create_experiment(name, None, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment:
        return self._store.get_experiment_by_name(name)

    def search_experiments(self, *, filter_string: str | None = None, order_by: Sequence[str] = (),
                           max_results: int = 1000, page_token: str | None = None,
                           view_type: int = ViewType.ACTIVE_ONLY) -> tuple[list[Experiment], str | None]:
        return self._store.search_experiments(view_type, filter_string, max_results, list(order_by), page_token)

    # -- runs -------------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, *, run_name: str | None = None, tags: dict[str, str] | None = None,
                   start_time: int | None = None) -> Run:
        return self._store.create_run(experiment_id, user_id=(tags or {}).get("mlflow.user", ""),
                                      start_time=start_time, tags=tags, run_name=run_name)

    def get_run(self, run_id: str) -> Run:
        return self._store.get_run(run_id)

    def update_run(self, run_id: str, *, status: str | None = None, end_time: int | None = None) -> None:
        self._store.update_run_info(run_id, status=status, end_time=end_time)

    def log_batch(self, run_id: str, *, metrics: Sequence[Point] = (), params: dict[str, str] | None = None,
                  tags: dict[str, str] | None = None) -> None:
        self._store.log_batch(run_id, metrics=[Metric(k, v, ts, step) for k, v, ts, step in metrics],
                              params=params, tags=tags)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self._store.log_inputs(run_id, datasets)

    def get_metric_history(self, run_id: str, key: str, *, max_results: int | None = None,
                           page_token: str | None = None) -> tuple[list[Metric], str | None]:
        return self._store.get_metric_history(run_id, key, max_results, page_token)

    def search_runs(self, experiment_ids: Sequence[str], *, filter_string: str | None = None,
                    order_by: Sequence[str] = (), max_results: int = 1000, page_token: str | None = None,
                    view_type: int = ViewType.ACTIVE_ONLY) -> tuple[list[Run], str | None]:
        return self._store.search_runs(list(experiment_ids), filter_string, view_type, max_results,
                                       list(order_by), page_token)

    # -- artifacts --------------------------------------------------------------------------------
    @staticmethod
    def _key(artifact_uri: str, path: str) -> str:
        base, rel = artifact_base(artifact_uri), safe_path(path)
        return f"{base}/{rel}" if base and rel else (base or rel)

    def upload_artifact(self, artifact_uri: str, path: str, local_file: Path) -> None:
        key = self._key(artifact_uri, safe_path(path, allow_empty=False))
        store = self._runtime.artifacts
        if local_file.stat().st_size <= _WHOLE_FILE_BYTES:
            store.write_bytes(key, local_file.read_bytes())
            return
        # The store's streaming write is async; run it on a private loop in a helper thread so this
        # works even when the caller is inside a running event loop (notebooks).
        failure: list[BaseException] = []

        def write() -> None:
            try:
                asyncio.run(store.write(key, _file_chunks(local_file)))
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)

        worker = threading.Thread(target=write, name="opsloop-artifact-upload")
        worker.start()
        worker.join()
        if failure:
            raise failure[0]

    def list_artifacts(self, artifact_uri: str, path: str = "") -> list[FileInfo]:
        base = artifact_base(artifact_uri)
        out = []
        for info in self._runtime.artifacts.list(self._key(artifact_uri, path)):
            rel = info.path[len(base):].lstrip("/") if base else info.path
            out.append(FileInfo(rel, info.is_dir, info.file_size))
        return out

    def logged_model_artifact_uri(self, experiment_id: str, filter_string: str) -> str | None:
        models, _ = self._store.search_logged_models([experiment_id], filter_string, max_results=1)
        return models[0].artifact_uri if models else None

    def download_artifact(self, artifact_uri: str, path: str, dst: Path) -> None:
        chunks = self._runtime.artifacts.open_read(self._key(artifact_uri, safe_path(path, allow_empty=False)))
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.part")
        with tmp.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        shutil.move(tmp, dst)

    def close(self) -> None:
        with self._lock:
            runtime, self._opened = self._opened, None
        if runtime is not None:
            runtime.close()


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk
