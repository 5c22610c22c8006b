"""Import an MLflow tracking store and model registry into opsloop.

``import_from_mlflow`` reads any store the ``mlflow`` client reads (a server, a file store, a database) and
writes through opsloop's MLflow-compatible REST API, so what arrives is what an MLflow client would see.
It is idempotent: copies carry ``opsloop.import.*`` tags naming their source, and what already carries them
is skipped. See docs/migrating-from-mlflow.md.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opsloop.errors import InvalidInputError
from opsloop.mlops.migration.registry import SOURCE_VERSION_TAG, RegistryCopier
from opsloop.mlops.migration.source import check_destination, redacted, require_mlflow, resolve_source
from opsloop.mlops.migration.summary import KINDS, ImportSummary, Tally
from opsloop.mlops.migration.tracking import SOURCE_MODEL_TAG, SOURCE_RUN_TAG, Options, TrackingCopier

__all__ = [
    "KINDS",
    "SOURCE_MODEL_TAG",
    "SOURCE_RUN_TAG",
    "SOURCE_VERSION_TAG",
    "ImportSummary",
    "Options",
    "Tally",
    "import_from_mlflow",
]


def import_from_mlflow(source: str, destination: str, options: Options | None = None,
                       progress: Callable[[str], None] = lambda _line: None) -> ImportSummary:
    """Copy the MLflow store ``source`` into the opsloop server at ``destination``.

    Raises (before anything is written):
        MissingDependencyError: ``mlflow`` is not installed.
        InvalidInputError: ``source`` is not an MLflow store, or ``destination`` not a server URL
            (``field`` is ``"from"`` or ``"to"``).
        StorageError: either end cannot be reached.

    Failures of single experiments, runs, models or versions do not raise: they are in
    ``summary.failures`` and the rest is still copied.
    """
    options = options or Options()
    if source.rstrip("/") == destination.rstrip("/"):
        raise InvalidInputError(f"--from and --to are the same server ({redacted(destination)}): copying it "
                                "into itself would duplicate every run", field="to")
    mlflow = require_mlflow()
    source_uri = resolve_source(source)
    destination = check_destination(destination)
    summary = ImportSummary(source=redacted(source_uri), destination=redacted(destination), dry_run=options.dry_run)
    with _quiet_mlflow(), _mlflow_environment(source_uri):
        src = mlflow.MlflowClient(tracking_uri=source_uri, registry_uri=source_uri)
        dst = mlflow.MlflowClient(tracking_uri=destination, registry_uri=destination)
        tracking = TrackingCopier(mlflow, src, dst, source_uri, options, summary, progress)
        tracking.copy_all()
        RegistryCopier(tracking, summary, progress).copy_all()
    return summary


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """The ``mlflow`` client's own INFO lines ("Created version '1' of model …") and deprecation warnings
    would drown the import's progress."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


@contextmanager
def _mlflow_environment(source_uri: str) -> Iterator[None]:
    """The ``mlflow`` client settings an import needs, for its own duration.

    MLflow 3.7+ refuses to open a file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set, and reading one to
    move off it is what its message asks for (its registry also needs the default tracking URI to be the
    store); and ending a run on a server prints links to stdout, which
    would corrupt ``--json`` output.
    """
    wanted = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
    if source_uri.startswith("file:"):
        wanted["MLFLOW_ALLOW_FILE_STORE"] = "true"
        # MLflow's file registry reads each version's logged model through a client of the *default*
        # tracking URI: unset, that is sqlite:///mlflow.db, which it creates in the working directory
        # (and the versions lose their model's params and metrics)
        wanted["MLFLOW_TRACKING_URI"] = source_uri
    before = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
