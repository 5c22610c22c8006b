"""The registry side of ``opsloop models validate``: opsloop's implementations of
``opsloop.mlops.validation.ValidationRegistry`` (matched structurally; this package does not import it).

Unlike the plain-MLflow implementation, these keep every report as a stored validation
(``model_validations``) and promote through the audited ``promote(..., require_validation=True)``,
so the alias moves only when the stored report for the candidate passed against the current champion.

- ``HttpValidationRegistry``: an opsloop server over HTTP (opsloop's ``/api/opsloop/v1/models`` endpoints).
- ``LocalValidationRegistry``: a ``SqlRegistryStore`` in this process.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from opsloop.errors import InvalidInputError, NotFoundError, StorageError
from opsloop.mlops.registry.resolver import HttpModelResolver, LocalModelResolver, by_alias, check_response

__all__ = ["HttpValidationRegistry", "LocalValidationRegistry", "champion_version_of"]

_OPS = "/api/opsloop/v1/models"


def champion_version_of(report: Any) -> int | None:
    """The champion version number in a report (its ``champion`` label is ``"3 (@champion)"`` or ``"3"``)."""
    label = getattr(report, "champion", None)
    match = re.match(r"^\s*(\d+)\b", str(label)) if label else None
    return int(match.group(1)) if match else None


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return os.environ.get("OPSLOOP_ACTOR") or f"{user} (opsloop models validate)"


class HttpValidationRegistry:
    """``ValidationRegistry`` over an opsloop server at ``tracking_uri`` (default ``MLFLOW_TRACKING_URI``)."""

    def __init__(self, tracking_uri: str | None = None, cache_dir: str | Path | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.resolver = HttpModelResolver(tracking_uri, cache_dir, headers, timeout)
        self.tracking_uri = self.resolver.tracking_uri

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.tracking_uri, headers=self.resolver.headers, timeout=self.resolver.timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            with self._client() as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StorageError(f"cannot reach the opsloop server at {self.tracking_uri}: {exc}") from exc
        check_response(response)
        return response.json()

    def version_uri(self, name: str, version: str) -> str:
        return f"models:/{name}/{version}"

    def alias_version(self, name: str, alias: str) -> str | None:
        self._call("GET", "/api/2.0/mlflow/registered-models/get", params={"name": name})
        try:
            found = by_alias(lambda: self._call("GET", "/api/2.0/mlflow/registered-models/alias",
                                                params={"name": name, "alias": alias}), name, alias)
        except NotFoundError:
            return None
        return str(found["model_version"]["version"])

    def resolve(self, uri: str) -> Path:
        return self.resolver(uri)

    def store_report(self, name: str, version: str, report: Any) -> int:
        """Store the report as a validation of ``version``; returns its id."""
        champion = champion_version_of(report)
        body = {"passed": bool(report.passed), "report": report.to_dict(),
                "champion_version": None if champion is None else str(champion)}
        found = self._call("POST", f"{_OPS}/{quote(name, safe='')}/versions/{quote(str(version))}/validations",
                           json=body)
        return int(found["validation"]["id"])

    def promote(self, name: str, version: str, alias: str, reason: str = "passed opsloop models validate") -> None:
        self._call("POST", f"{_OPS}/{quote(name, safe='')}/promote", json={
            "alias": alias, "version": str(version), "actor": _actor(), "reason": reason,
            "require_validation": True})


class LocalValidationRegistry:
    """``ValidationRegistry`` over a ``Runtime``'s registry store in this process."""

    def __init__(self, runtime: Any, cache_dir: str | Path | None = None) -> None:
        self.store = runtime.registry
        self.resolver = LocalModelResolver.for_runtime(runtime, cache_dir)

    def version_uri(self, name: str, version: str) -> str:
        return f"models:/{name}/{version}"

    def alias_version(self, name: str, alias: str) -> str | None:
        self.store.get_registered_model(name)
        try:
            return str(self.store.get_model_version_by_alias(name, alias).version)
        except NotFoundError:
            return None

    def resolve(self, uri: str) -> Path:
        return self.resolver(uri)

    def store_report(self, name: str, version: str, report: Any) -> int:
        if not hasattr(report, "to_dict"):
            raise InvalidInputError("expected a ValidationReport", field="report")
        return self.store.record_validation(name, version, champion_version_of(report), bool(report.passed),
                                            report.to_dict())

    def promote(self, name: str, version: str, alias: str, reason: str = "passed opsloop models validate") -> None:
        self.store.promote(name, alias, version, actor=_actor(), reason=reason, require_validation=True)
