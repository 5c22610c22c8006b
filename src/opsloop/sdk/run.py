"""``Run``: one run being logged, as a context manager.

    with client.start_run(experiment="mnist", params={"lr": 0.1}) as run:
        for step in range(steps):
            run.log_metric("loss", loss, step=step)   # queued; sent in batches in the background

On leaving the ``with`` block every queued point is sent, then the run is marked FINISHED, FAILED
(an exception escaped; it still propagates) or KILLED (KeyboardInterrupt). Runs still open when
the interpreter exits are ended by an ``atexit`` hook, and KILLED on SIGTERM when the program has no
handler of its own (``opsloop.sdk._sigterm``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from opsloop.errors import InvalidInputError, InvalidStateError, RateLimitedError, StorageError
from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking.entities import Dataset, DatasetInput, RunInfo
from opsloop.sdk import _sigterm
from opsloop.sdk.batching import MetricBatcher
from opsloop.sdk.transports.base import Point
from opsloop.storage.artifacts.base import safe_path

if TYPE_CHECKING:
    from opsloop.sdk.client import Client
    from opsloop.sdk.system_metrics import SystemMetricsSampler

__all__ = ["Run"]

_BATCH = limits.MAX_PARAMS_TAGS_PER_BATCH
_TERMINAL = ("FINISHED", "FAILED", "KILLED")
_INT64 = 2**63
_log = logging.getLogger("opsloop.sdk")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _status_for(exc_type: type[BaseException]) -> str:
    return "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"


class Run:
    """A run being logged. Made by ``Client.start_run`` or ``opsloop.start_run``, not directly.

    Metrics are queued and sent by a background thread (see ``MetricBatcher``); params, tags,
    inputs and artifacts are sent at once, so their errors are raised where they are logged.
    """

    def __init__(self, client: Client, info: RunInfo, *, batch_size: int = 1000, max_pending: int = 100_000,
                 flush_interval: float = 1.0, owns_client: bool = False) -> None:
        self.client = client
        self.info = info
        self._transport = client.transport
        self._owns_client = owns_client
        self._known_keys: set[str] = set()
        self._sampler: SystemMetricsSampler | None = None
        self._end_lock = threading.Lock()
        self._ended = False
        self._batcher = MetricBatcher(self._send_points, batch_size=batch_size, max_pending=max_pending,
                                      interval=flush_interval, name=f"opsloop-metrics-{info.run_id[:8]}")
        _OPEN_RUNS.add(self)
        _sigterm.install(_kill_open_runs, _holding_locks)

    # -- identity -----------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.info.run_id

    @property
    def experiment_id(self) -> str:
        return self.info.experiment_id

    @property
    def name(self) -> str:
        return self.info.run_name

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def artifact_uri(self) -> str:
        return self.info.artifact_uri

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.name!r} experiment={self.experiment_id} {self.status}>"

    # -- metrics (queued) ---------------------------------------------------------------------------
    def _send_points(self, points: list[Point]) -> None:
        """Send one batch (on the sender thread), patiently: a resent batch is not doubled (the store keeps
        one copy of an identical point)."""
        self._patiently(lambda: self._transport.log_batch(self.id, metrics=points))

    def _patiently(self, call: Callable[[], None]) -> None:
        """``call()``, again while the backend is unreachable, up to the transport's ``outage_patience``: a
        server restart must lose neither the points logged meanwhile nor the run's final status."""
        deadline, pause = time.monotonic() + self._transport.outage_patience, 0.5
        while True:
            try:
                call()
                return
            except (StorageError, RateLimitedError) as exc:
                if time.monotonic() + pause > deadline:
                    raise
                if pause == 0.5:
                    _log.warning("opsloop: run %s: cannot reach the tracking backend (%s); retrying for up to "
                                 "%.0f s", self.id, exc, self._transport.outage_patience)
            time.sleep(pause)
            pause = min(pause * 2, 10.0)

    def _point(self, key: str, value: Any, step: int | None, timestamp: int) -> Point:
        if key not in self._known_keys:
            limits.check_key(key, "metric")
            self._known_keys.add(key)
        if isinstance(value, (str, bytes, bool)):
            raise InvalidInputError(f"Metric '{key}' value must be a number, got {value!r}", field="value")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidInputError(f"Metric '{key}' value must be a number, got {value!r}", field="value") from None
        if not 0 <= timestamp < _INT64:  # one bad point would cost its whole batch on the sender thread
            raise InvalidInputError(f"Metric '{key}' timestamp {timestamp} is not a non-negative 64-bit integer "
                                    "of milliseconds", field="timestamp")
        if step is None:
            return key, number, timestamp, 0
        try:
            step = int(step)
        except (TypeError, ValueError, OverflowError):
            raise InvalidInputError(f"Metric '{key}' step must be an integer, got {step!r}", field="step") from None
        if not -_INT64 <= step < _INT64:
            raise InvalidInputError(f"Metric '{key}' step {step} is not a 64-bit integer", field="step")
        return key, number, timestamp, step

    def log_metric(self, key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
        """Queue one point; returns without waiting for the network (unless the queue is full).

        Args:
            key: metric name (MLflow's key rules).
            value: a number (NaN and infinities are kept).
            step: training step (default 0).
            timestamp: milliseconds since the epoch (default: now).

        Raises:
            InvalidInputError: bad key, value, step or timestamp (checked here, not on the server).
            OpsloopError: a previous background send failed (raised once, then logging resumes).
        """
        self._batcher.add(self._point(key, value, step, _now_ms() if timestamp is None else int(timestamp)))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None,
                    timestamp: int | None = None) -> None:
        """Queue several metrics sharing one step and timestamp."""
        ts = _now_ms() if timestamp is None else int(timestamp)
        self._batcher.add_many([self._point(k, v, step, ts) for k, v in metrics.items()])

    def flush(self) -> None:
        """Wait until every queued metric point has been sent; raise a background send error."""
        self._batcher.flush()

    # -- params, tags, inputs (sent now) -----------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (values are stringified); a param cannot change once logged."""
        items = [(k, v if isinstance(v, str) else str(v)) for k, v in params.items()]
        for start in range(0, len(items), _BATCH):
            self._transport.log_batch(self.id, params=dict(items[start:start + _BATCH]))

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [(k, v if isinstance(v, str) else str(v)) for k, v in tags.items()]
        for start in range(0, len(items), _BATCH):
            self._transport.log_batch(self.id, tags=dict(items[start:start + _BATCH]))

    def log_input(self, name: str, digest: str, source: str, *, schema: str | Mapping[str, Any] | None = None,
                  source_type: str | None = None, profile: str | Mapping[str, Any] | None = None,
                  context: str | None = None) -> None:
        """Record a dataset this run used (MLflow's dataset input: name, digest, source, schema).

        ``source`` is where the data lives, a path or a URI; it is written as ``mlflow.data`` writes it
        (``{"uri": …}``, ``{"url": …}`` for http), so MLflow's ``mlflow.data.get_source`` reads it back (a
        JSON object given as text is kept as it is). ``source_type`` defaults to what ``mlflow.data``
        names the URI's scheme: ``s3``, ``gs``, ``http``, ``local`` for a path.
        """
        def text(value: str | Mapping[str, Any] | None) -> str | None:
            return value if value is None or isinstance(value, str) else json.dumps(value)

        tags = {"mlflow.data.context": context} if context else {}
        kind, where = _dataset_source(source)
        dataset = Dataset(name, digest, source_type or kind, where, text(schema), text(profile))
        self._transport.log_inputs(self.id, [DatasetInput(dataset, tags)])

    # -- artifacts ----------------------------------------------------------------------------------
    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload one file to ``artifact_path/<file name>`` in the run's artifacts."""
        path = Path(local_path)
        if not path.is_file():
            raise InvalidInputError(f"No file at {str(path)!r}", field="local_path")
        dest = safe_path(artifact_path)
        self._transport.upload_artifact(self.artifact_uri, f"{dest}/{path.name}" if dest else path.name, path)

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Upload every file below ``local_dir``, keeping the folder structure."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInputError(f"No folder at {str(root)!r}", field="local_dir")
        dest = safe_path(artifact_path)
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = file.relative_to(root).as_posix()
            self._transport.upload_artifact(self.artifact_uri, f"{dest}/{rel}" if dest else rel, file)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Upload ``text`` (UTF-8) as the artifact ``artifact_file``."""
        self._log_bytes(text.encode("utf-8"), artifact_file)

    def _log_bytes(self, data: bytes, artifact_file: str) -> None:
        rel = safe_path(artifact_file, allow_empty=False)
        with tempfile.TemporaryDirectory(prefix="opsloop-") as tmp:
            file = Path(tmp) / PurePosixPath(rel).name
            file.write_bytes(data)
            self._transport.upload_artifact(self.artifact_uri, rel, file)

    # -- system metrics -----------------------------------------------------------------------------
    def start_system_metrics(self, interval: float = 10.0) -> None:
        """Sample CPU, memory, disk and network every ``interval`` seconds until the run ends."""
        from opsloop.sdk.system_metrics import SystemMetricsSampler

        if self._sampler is None:
            self._sampler = SystemMetricsSampler(
                lambda values, step: self.log_metrics(values, step=step), interval=interval).start()

    # -- ending -------------------------------------------------------------------------------------
    def end(self, status: str = "FINISHED") -> None:
        """Send queued metrics, then mark the run ``status``. Idempotent.

        Raises:
            OpsloopError: queued metrics could not be sent (the run is still ended).
        """
        if status not in _TERMINAL:
            raise InvalidInputError(f"A run ends as one of {', '.join(_TERMINAL)}, not {status!r}", field="status")
        with self._end_lock:
            if self._ended:
                return
            self._ended = True
        _OPEN_RUNS.discard(self)
        problems: list[BaseException] = []
        for step in (self._stop_sampler, self._batcher.close):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - raised below, after the run is ended
                problems.append(exc)
        try:
            end_time = _now_ms()

            def send_status() -> None:
                self._transport.update_run(self.id, status=status, end_time=end_time)

            if any(isinstance(p, (StorageError, RateLimitedError)) for p in problems):
                send_status()  # the metric sender already waited the outage out: once is enough
            else:
                self._patiently(send_status)
            self.info.status, self.info.end_time = status, end_time
        except Exception as exc:
            for problem in problems:  # e.g. the points not logged: raised with the error, not dropped
                exc.add_note(f"opsloop: before that: {_described(problem)}")
            raise
        finally:
            if self._owns_client:
                self.client.close()
            if not _OPEN_RUNS:  # only now: a SIGTERM while the points were sent waited for them (_holding_locks)
                _sigterm.uninstall()
        if problems:
            raise problems[0]

    def _stop_sampler(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()

    @property
    def ended(self) -> bool:
        return self._ended

    def __enter__(self) -> Run:
        if self._ended:
            raise InvalidStateError(f"run {self.id} has already ended")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> Literal[False]:
        if exc_type is None or (issubclass(exc_type, SystemExit) and getattr(exc, "code", 1) in (0, None)):
            self.end("FINISHED")
            return False
        try:
            self.end(_status_for(exc_type))
        except Exception as end_error:  # noqa: BLE001 - the user's exception matters more; keep both
            if exc is not None:
                exc.add_note(f"opsloop: ending run {self.id} also failed: {_described(end_error)}")
        return False


# Runs not yet ended; the interpreter ends them on exit (FAILED if an uncaught exception is exiting it).
_OPEN_RUNS: weakref.WeakSet[Run] = weakref.WeakSet()


@atexit.register
def _end_open_runs() -> None:
    crashed = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    status = "FINISHED" if crashed is None else _status_for(type(crashed))  # Ctrl-C: KILLED, as in a with block
    for run in list(_OPEN_RUNS):
        try:
            run.end(status)
        except Exception as exc:  # noqa: BLE001 - nothing can be raised at exit; say it on stderr
            print(f"opsloop: could not end run {run.id} at exit: {exc}", file=sys.stderr)


_TRANSPORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transports")


def _holding_locks(frame: FrameType | None) -> bool:
    """Whether the thread a signal interrupted (at ``frame``) holds a lock ending the runs needs (a run's metric
    queue, or the backend's: an HTTP connection pool, the embedded store's session), or is ending a run itself
    (its points are being sent: the SIGTERM handler would find it ended and not wait for them)."""
    if any(run._batcher.held_here() for run in list(_OPEN_RUNS)) or _sigterm.running_in(frame, _TRANSPORTS):
        return True
    while frame is not None:
        if frame.f_code is Run.end.__code__:
            return True
        frame = frame.f_back
    return False


def _kill_open_runs() -> None:
    """On SIGTERM (see ``_sigterm``): send every open run's queued points and end it KILLED."""
    for run in list(_OPEN_RUNS):
        try:
            run.end("KILLED")
        except Exception as exc:  # noqa: BLE001 - the process is about to die; say it on stderr
            print(f"opsloop: could not end run {run.id} on SIGTERM: {_described(exc)}", file=sys.stderr)


def _described(error: BaseException) -> str:
    """An error and its notes on one line (a note says how many metric points were not logged)."""
    return "; ".join([repr(error), *getattr(error, "__notes__", [])])


def _dataset_source(source: str) -> tuple[str, str]:
    """MLflow's source type and source JSON for a path or URI (a JSON object as text stays as it is)."""
    text = source.strip()
    if text.startswith("{"):
        return "local", source
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("http", "https"):
        return "http", json.dumps({"url": text})
    return {"s3a": "s3", "s3n": "s3", "file": "local"}.get(scheme, scheme or "local"), json.dumps({"uri": text})
