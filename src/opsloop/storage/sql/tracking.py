"""The SQL tracking store: experiments, runs, params, metrics, tags, inputs and logged models.

``SqlTrackingStore`` is composed of one part per idea, in ``storage.sql._tracking``: experiments,
runs and their lifecycle, run logging (metrics, params, tags), run inputs and outputs, run search and
logged models.
"""

from __future__ import annotations

from opsloop.storage.sql._tracking.base import RUN_NAME_TAG as RUN_NAME_TAG
from opsloop.storage.sql._tracking.experiments import DEFAULT_EXPERIMENT_ID as DEFAULT_EXPERIMENT_ID
from opsloop.storage.sql._tracking.experiments import Experiments
from opsloop.storage.sql._tracking.logged_models import LoggedModels
from opsloop.storage.sql._tracking.run_io import LOG_MODEL_HISTORY_TAG as LOG_MODEL_HISTORY_TAG
from opsloop.storage.sql._tracking.run_io import RunInputsOutputs
from opsloop.storage.sql._tracking.run_logging import RunLogging
from opsloop.storage.sql._tracking.run_search import RunSearch
from opsloop.storage.sql._tracking.runs import RunLifecycle
from opsloop.storage.sql.engine import Database

__all__ = ["SqlTrackingStore"]


class SqlTrackingStore(Experiments, RunLifecycle, RunLogging, RunInputsOutputs, RunSearch, LoggedModels):
    """MLflow-semantics tracking on SQLite or PostgreSQL.

    Args:
        db: the opened database.
        artifact_root: the prefix of new experiments' artifact locations; the server uses
            ``mlflow-artifacts:`` so clients upload through its artifact proxy.
    """

    def __init__(self, db: Database, artifact_root: str = "mlflow-artifacts:") -> None:
        self.db = db
        self.artifact_root = artifact_root.rstrip("/")
        self._ensure_default_experiment()
