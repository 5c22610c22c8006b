"""``Client``: opsloop's tracking API over a transport (a server URL, the embedded store, or a mock)."""

from __future__ import annotations

import getpass
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.tracking.entities import Experiment, Metric, ViewType
from opsloop.mlops.tracking.entities import Run as RunRecord
from opsloop.sdk import git as _git
from opsloop.sdk.run import Run
from opsloop.sdk.transports.base import Transport
from opsloop.settings import Settings
from opsloop.storage.artifacts.base import FileInfo, safe_path

__all__ = ["Client", "start_run"]

_VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
_HISTORY_PAGE = 25_000
_SEARCH_PAGE = 1000


def _view(view: str) -> int:
    try:
        return _VIEWS[view]
    except KeyError:
        raise InvalidInputError(f"view must be one of {sorted(_VIEWS)}, not {view!r}", field="view") from None


class Client:
    """Tracking client.

    Args:
        url: an opsloop (or MLflow) server, e.g. ``http://127.0.0.1:5000``. Without one the client
            works directly on the embedded store, in the same data folder ``opsloop server`` uses.
        data_dir: the embedded store's folder (default: from opsloop's settings).
        settings: full settings for the embedded store (instead of ``data_dir``).
        transport: a ready transport (e.g. ``MockTransport()`` in tests); overrides ``url``.
        timeout: HTTP timeout in seconds.
        retries: HTTP retry policy (``opsloop.sdk.Retries``).
        headers: extra HTTP headers.
    """

    def __init__(self, url: str | None = None, *, data_dir: str | os.PathLike[str] | None = None,
                 settings: Settings | None = None, transport: Transport | None = None, timeout: float = 60.0,
                 retries: Any = None, headers: dict[str, str] | None = None) -> None:
        self.url = url
        if transport is not None:
            self.transport = transport
        elif url:
            if not url.startswith(("http://", "https://")):
                raise InvalidInputError(f"Tracking URL must start with http:// or https://, got {url!r}",
                                        field="url")
            from opsloop.sdk.transports.http import HttpTransport

            self.transport = HttpTransport(url, timeout=timeout, retries=retries, headers=headers)
        else:
            from opsloop.sdk.transports.local import LocalTransport

            if settings is None:
                from opsloop.settings import load_settings

                settings = load_settings({"storage": {"data_dir": str(data_dir)}} if data_dir else None)
            self.transport = LocalTransport(settings)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- experiments --------------------------------------------------------------------------------
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        return self.transport.create_experiment(name, tags)

    def get_experiment(self, experiment: str) -> Experiment:
        """The experiment with this id or, failing that, this name.

        Only an id as ids are written is tried as one: "007" names an experiment, and is not id 7.
        """
        if experiment.isdigit() and str(int(experiment)) == experiment:
            try:
                return self.transport.get_experiment(experiment)
            except NotFoundError:
                pass
        try:
            return self.transport.get_experiment_by_name(experiment)
        except NotFoundError:
            raise NotFoundError(f"No experiment with id or name {experiment!r}", field="experiment") from None

    def get_or_create_experiment(self, name: str) -> str:
        """The id of the experiment called ``name``, created if missing.

        Raises:
            NotActiveError: the experiment of that name is deleted (as MLflow's ``set_experiment`` refuses it).
        """
        from opsloop.errors import AlreadyExistsError
        from opsloop.mlops.tracking.lifecycle import NotActiveError

        try:
            found = self.transport.get_experiment_by_name(name)
        except NotFoundError:
            pass
        else:
            if found.lifecycle_stage == "deleted":
                raise NotActiveError(f"experiment {name!r} (id {found.experiment_id}) is deleted: restore it, or "
                                        "delete it permanently to use its name again", field="experiment")
            return found.experiment_id
        try:
            return self.transport.create_experiment(name)
        except AlreadyExistsError:  # created concurrently by another process
            return self.transport.get_experiment_by_name(name).experiment_id

    def search_experiments(self, filter: str | None = None, order_by: Sequence[str] = (),  # noqa: A002
                           max_results: int | None = None, view: str = "active") -> list[Experiment]:
        """Experiments matching an MLflow filter (``name LIKE 'mnist%'``), across pages."""
        out: list[Experiment] = []
        token: str | None = None
        while max_results is None or len(out) < max_results:
            size = _SEARCH_PAGE if max_results is None else min(_SEARCH_PAGE, max_results - len(out))
            page, token = self.transport.search_experiments(filter_string=filter, order_by=list(order_by),
                                                            max_results=size, page_token=token, view_type=_view(view))
            out.extend(page)
            if not token:
                break
        return out

    def _experiment_ids(self, experiment: str | Sequence[str] | None) -> list[str]:
        if experiment is None:
            return [e.experiment_id for e in self.search_experiments()]
        refs = [experiment] if isinstance(experiment, str) else list(experiment)
        return [self.get_experiment(ref).experiment_id for ref in refs]

    # -- runs ---------------------------------------------------------------------------------------
    def start_run(self, experiment: str | None = None, *, experiment_id: str | None = None,
                  run_name: str | None = None, params: dict[str, Any] | None = None,
                  tags: dict[str, Any] | None = None, description: str | None = None,
                  system_metrics: bool = False, system_metrics_interval: float = 10.0,
                  capture_git: bool = True, git_dir: str | os.PathLike[str] | None = None,
                  git_diff_max_bytes: int = _git.MAX_DIFF_BYTES, batch_size: int = 1000, max_pending: int = 100_000, flush_interval: float = 1.0,
                  _owns_client: bool = False) -> Run:
        """Create a run and return it; use it as a context manager so it ends (and flushes) for sure.

        Args:
            experiment: experiment name, created if missing (default: the Default experiment).
            experiment_id: an existing experiment's id, instead of ``experiment``.
            run_name: display name (default: a random one).
            params: params logged at start.
            tags: extra run tags.
            description: the run's note (``mlflow.note.content``).
            system_metrics: sample CPU/memory/disk/network into ``system/…`` metrics.
            system_metrics_interval: seconds between samples.
            capture_git: tag the git commit/branch and upload ``git diff HEAD`` as ``code/git.diff``.
            git_dir: folder inside the repo (default: the running script's folder).
            git_diff_max_bytes: a larger diff is not uploaded; the tag ``opsloop.source.git.diff_omitted``
                says so instead (default 5 MiB).
            batch_size: most metric points per request (≤ 1000).
            max_pending: most queued points before ``log_metric`` waits (backpressure).
            flush_interval: longest seconds a queued point waits before it is sent.
        """
        exp_id = experiment_id or (self.get_or_create_experiment(experiment) if experiment else "0")
        run_tags = _default_tags()
        if description:
            run_tags["mlflow.note.content"] = description
        git_info = _git.capture_git(git_dir, max_diff_bytes=git_diff_max_bytes) if capture_git else None
        if git_info is not None:
            run_tags.update(git_info.tags())
        run_tags.update({k: str(v) for k, v in (tags or {}).items()})
        # the start time always travels: MLflow's server stores 0 (1970) for a run created without one
        record = self.transport.create_run(exp_id, run_name=run_name, tags=run_tags, start_time=time.time_ns() // 10**6)
        run = Run(self, record.info, batch_size=batch_size, max_pending=max_pending, flush_interval=flush_interval,
                  owns_client=_owns_client)
        try:
            if params:
                run.log_params(params)
            if git_info is not None and git_info.diff:
                run._log_bytes(git_info.diff, _git.DIFF_ARTIFACT)
            if system_metrics:
                run.start_system_metrics(system_metrics_interval)
        except BaseException:
            run.end("FAILED")
            raise
        return run

    def get_run(self, run_id: str) -> RunRecord:
        """The run with its params, tags, latest metric values and inputs."""
        return self.transport.get_run(run_id)

    def set_terminated(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> None:
        """Mark a run (e.g. one left RUNNING by a killed process) as ended."""
        self.transport.update_run(run_id, status=status, end_time=end_time or int(time.time() * 1000))

    def search_runs(self, experiment: str | Sequence[str] | None = None, filter: str | None = None,  # noqa: A002
                    order_by: Sequence[str] = (), max_results: int = 1000, view: str = "active") -> list[RunRecord]:
        """Runs of the given experiments (ids or names; default: every active one) matching a filter.

        ``filter`` is MLflow's syntax, e.g. ``metrics.loss < 0.1 and params.lr = '0.01'``;
        ``order_by`` items look like ``metrics.loss ASC`` or ``attributes.start_time DESC``.
        """
        ids = self._experiment_ids(experiment)
        out: list[RunRecord] = []
        token: str | None = None
        while ids and len(out) < max_results:
            page, token = self.transport.search_runs(
                ids, filter_string=filter, order_by=list(order_by), max_results=min(_SEARCH_PAGE, max_results - len(out)),
                page_token=token, view_type=_view(view))
            out.extend(page)
            if not token:
                break
        return out

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, ordered by step then timestamp."""
        out: list[Metric] = []
        token: str | None = None
        while True:
            page, token = self.transport.get_metric_history(run_id, key, max_results=_HISTORY_PAGE,
                                                            page_token=token)
            out.extend(page)
            if not token:
                return out

    # -- artifacts ----------------------------------------------------------------------------------
    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """Direct children of ``path`` in the run's artifacts (paths relative to the run's root).

        ``NAME[/…]`` of a model logged as ``NAME`` in the run (MLflow 3 keeps those files with the logged
        model) lists the model's files, as ``NAME/…``, when the run has no artifact there.
        """
        run = self.get_run(run_id)
        rel = safe_path(path)
        found = self.transport.list_artifacts(run.info.artifact_uri, rel)
        model = None if found or not rel else self._logged_model_folder(run, rel)
        if model is None:
            return found
        name = rel.split("/", 1)[0]
        return [FileInfo(f"{name}/{f.path}", f.is_dir, f.file_size) for f in self.transport.list_artifacts(*model)]

    def download_artifacts(self, run_id: str, path: str | None = None,
                           dst: str | os.PathLike[str] = ".") -> Path:
        """Copy a run's artifact file or folder (default: all of them) into ``dst``; returns the local path.

        As in ``list_artifacts``, ``NAME[/…]`` reaches the files of a model logged as ``NAME`` in the run.
        """
        run = self.get_run(run_id)
        uri, rel = run.info.artifact_uri, safe_path(path)
        inner, dst = rel, Path(dst)
        entries = self.transport.list_artifacts(uri, rel)
        model = None if entries or not rel else self._logged_model_folder(run, rel)
        if model is not None:
            uri, inner = model
            entries = self.transport.list_artifacts(uri, inner)
        if rel and not entries:  # a file, or nothing at all (download_artifact raises NotFoundError)
            target = dst / PurePosixPath(rel).name
            self.transport.download_artifact(uri, inner, target)
            return target
        root = dst / PurePosixPath(rel).name if rel else dst
        root.mkdir(parents=True, exist_ok=True)
        self._download_tree(uri, inner, entries, root)
        return root

    def _logged_model_folder(self, run: RunRecord, rel: str) -> tuple[str, str] | None:
        """(artifact URI, path inside it) when ``rel``'s first part names a model logged in ``run``."""
        from opsloop.mlops.registry.uris import ModelUri, run_model_query

        query = run_model_query(ModelUri("run", run.info.run_id, path=rel))
        if query is None:
            return None
        uri = self.transport.logged_model_artifact_uri(run.info.experiment_id, query[0])
        return (uri, query[1]) if uri else None

    def _download_tree(self, uri: str, base: str, entries: list[FileInfo], root: Path) -> None:
        for entry in entries:
            rel = entry.path[len(base):].lstrip("/") if base else entry.path
            if entry.is_dir:
                self._download_tree(uri, base, self.transport.list_artifacts(uri, entry.path), root)
            else:
                self.transport.download_artifact(uri, entry.path, root / rel)


def _default_tags() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    tags = {"mlflow.user": user, "mlflow.source.type": "LOCAL"}
    if sys.argv and sys.argv[0]:
        tags["mlflow.source.name"] = sys.argv[0]
    return tags


def start_run(experiment: str | None = None, *, url: str | None = None,
              data_dir: str | os.PathLike[str] | None = None, client: Client | None = None, **options: Any) -> Run:
    """Start a run; use it as ``with opsloop.start_run(experiment="x", params={...}) as run: ...``.

    Args:
        experiment: experiment name, created if missing.
        url: a tracking server (default: the embedded store in ``data_dir`` or opsloop's settings).
        data_dir: the embedded store's folder.
        client: an existing client to use instead of ``url``/``data_dir``.
        **options: as for ``Client.start_run`` (``params``, ``tags``, ``run_name``, ``system_metrics``…).
    """
    if client is not None:
        return client.start_run(experiment, **options)
    own = Client(url, data_dir=data_dir)
    try:
        return own.start_run(experiment, _owns_client=True, **options)
    except BaseException:
        own.close()
        raise
