"""How the validation gate reaches the model registry: the ``ValidationRegistry`` protocol.

The opsloop server provides its own implementation; ``MlflowValidationRegistry`` talks to any
MLflow-compatible registry with the ``mlflow`` client (imported lazily; not a core dependency).
A stored verdict is three model-version tags — ``opsloop.validation.passed`` (``true``/``false``),
``opsloop.validation.time`` and ``opsloop.validation.summary`` — plus the JSON report as an
artifact ``validation/<name>-v<version>.json`` of the version's source run when it has one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from opsloop.errors import MissingDependencyError, NotFoundError
from opsloop.mlops.validation.report import ValidationReport

__all__ = ["PASSED_TAG", "SUMMARY_TAG", "TIME_TAG", "MlflowValidationRegistry", "ValidationRegistry"]

PASSED_TAG = "opsloop.validation.passed"
TIME_TAG = "opsloop.validation.time"
SUMMARY_TAG = "opsloop.validation.summary"


@runtime_checkable
class ValidationRegistry(Protocol):
    """What ``opsloop models validate`` needs from a registry."""

    def version_uri(self, name: str, version: str) -> str:
        """URI of a version, loadable by ``resolve`` (e.g. ``models:/NAME/VERSION``)."""
        ...

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points at, or ``None`` when the alias is not set.

        Raises NotFoundError when the registered model does not exist.
        """
        ...

    def resolve(self, uri: str) -> Path:
        """Local model directory for a URI (a ``serving.ModelResolver``)."""
        ...

    def store_report(self, name: str, version: str, report: ValidationReport) -> None:
        """Keep the report with the version."""
        ...

    def promote(self, name: str, version: str, alias: str) -> None:
        """Point ``alias`` at ``version`` (after a passed validation)."""
        ...


class MlflowValidationRegistry:
    """``ValidationRegistry`` over the ``mlflow`` client (tracking URI: argument or MLFLOW_TRACKING_URI)."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")

    def _client(self) -> Any:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise MissingDependencyError("talking to an MLflow registry needs the mlflow package; "
                                         "install it with: pip install mlflow") from exc
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def version_uri(self, name: str, version: str) -> str:
        return f"models:/{name}/{version}"

    def alias_version(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            client.get_registered_model(name)
        except MlflowException as exc:
            raise NotFoundError(f"registered model {name!r} does not exist", field="name") from exc
        try:
            return str(client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def resolve(self, uri: str) -> Path:
        from opsloop.mlops.serving.uris import MlflowClientResolver

        return MlflowClientResolver(self.tracking_uri)(uri)

    def store_report(self, name: str, version: str, report: ValidationReport) -> None:
        client = self._client()
        client.set_model_version_tag(name, version, PASSED_TAG, "true" if report.passed else "false")
        client.set_model_version_tag(name, version, TIME_TAG, f"{report.time:.3f}")
        summary = "; ".join(f"{r.rule}: {r.status}" for r in report.rules)
        client.set_model_version_tag(name, version, SUMMARY_TAG, summary[:4900])
        run_id = client.get_model_version(name, version).run_id
        if run_id:
            client.log_text(run_id, json.dumps(report.to_dict(), indent=2), f"validation/{name}-v{version}.json")

    def promote(self, name: str, version: str, alias: str) -> None:
        self._client().set_registered_model_alias(name, alias, version)
