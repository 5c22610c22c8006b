"""The contract between the SDK and a tracking backend.

A transport speaks in opsloop's tracking entities and raises ``opsloop.errors`` exceptions; the
``Client`` and ``Run`` above it never know whether the backend is a server, the embedded store, or
an in-memory fake.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from opsloop.mlops.tracking.entities import DatasetInput, Experiment, Metric, Run, ViewType
from opsloop.storage.artifacts.base import FileInfo

__all__ = ["ARTIFACT_SCHEME", "Point", "Transport", "artifact_base"]

# A metric point as the SDK queues it: (key, value, timestamp in ms, step). A plain tuple keeps
# ``Run.log_metric`` cheap; transports turn it into their wire or storage shape.
Point = tuple[str, float, int, int]

ARTIFACT_SCHEME = "mlflow-artifacts:"


def artifact_base(artifact_uri: str) -> str:
    """The store key of a run's ``mlflow-artifacts:/…`` root (``0/<run_id>/artifacts``)."""
    from opsloop.errors import InvalidInputError

    if not artifact_uri.startswith(ARTIFACT_SCHEME):
        raise InvalidInputError(
            f"Artifact URI {artifact_uri!r} is not served by opsloop's artifact proxy", field="artifact_uri")
    base = artifact_uri[len(ARTIFACT_SCHEME):]
    if base.startswith("//"):  # mlflow-artifacts://host:port/path
        rest = base[2:]
        base = rest.split("/", 1)[1] if "/" in rest else ""
    return base.strip("/")


class Transport(ABC):
    """Tracking operations the SDK needs, in domain terms.

    Attributes:
        outage_patience: seconds a background metric batch keeps being resent while the backend cannot be
            reached (``StorageError``, ``RateLimitedError``), e.g. during a server restart; 0 gives up at once.
    """

    outage_patience: float = 0.0

    # -- experiments ------------------------------------------------------------------------------
    @abstractmethod
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        """Create an experiment; returns its id. Raises AlreadyExistsError if the name is taken."""

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; NotFoundError otherwise."""

    @abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment:
        """The experiment with this name; NotFoundError otherwise."""

    @abstractmethod
    def search_experiments(self, *, filter_string: str | None = None, order_by: Sequence[str] = (),
                           max_results: int = 1000, page_token: str | None = None,
                           view_type: int = ViewType.ACTIVE_ONLY) -> tuple[list[Experiment], str | None]:
        """One page of experiments and the token of the next page (None at the end)."""

    # -- runs -------------------------------------------------------------------------------------
    @abstractmethod
    def create_run(self, experiment_id: str, *, run_name: str | None = None, tags: dict[str, str] | None = None,
                   start_time: int | None = None) -> Run:
        """Create a RUNNING run."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its params, tags, latest metrics and inputs; NotFoundError otherwise."""

    @abstractmethod
    def update_run(self, run_id: str, *, status: str | None = None, end_time: int | None = None) -> None:
        """Set a run's status and end time."""

    @abstractmethod
    def log_batch(self, run_id: str, *, metrics: Sequence[Point] = (), params: dict[str, str] | None = None,
                  tags: dict[str, str] | None = None) -> None:
        """Log at most 1000 metrics, 100 params and 100 tags atomically."""

    @abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record the datasets a run consumed."""

    @abstractmethod
    def get_metric_history(self, run_id: str, key: str, *, max_results: int | None = None,
                           page_token: str | None = None) -> tuple[list[Metric], str | None]:
        """Points of one metric ordered by step and timestamp, one page at a time."""

    @abstractmethod
    def search_runs(self, experiment_ids: Sequence[str], *, filter_string: str | None = None,
                    order_by: Sequence[str] = (), max_results: int = 1000, page_token: str | None = None,
                    view_type: int = ViewType.ACTIVE_ONLY) -> tuple[list[Run], str | None]:
        """One page of runs matching an MLflow filter string."""

    # -- artifacts --------------------------------------------------------------------------------
    @abstractmethod
    def upload_artifact(self, artifact_uri: str, path: str, local_file: Path) -> None:
        """Store ``local_file`` at ``path`` under the run root ``artifact_uri``."""

    @abstractmethod
    def list_artifacts(self, artifact_uri: str, path: str = "") -> list[FileInfo]:
        """Direct children of ``path``; paths are relative to the run's artifact root."""

    @abstractmethod
    def download_artifact(self, artifact_uri: str, path: str, dst: Path) -> None:
        """Write the file at ``path`` to the local file ``dst``; NotFoundError if absent."""

    def logged_model_artifact_uri(self, experiment_id: str, filter_string: str) -> str | None:
        """The artifact URI of the first logged model of ``experiment_id`` that ``filter_string`` matches
        (a transport without logged models finds none)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the transport is not used afterwards."""
