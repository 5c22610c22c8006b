"""Copy registered models, their versions (in version order) and aliases from an MLflow registry.

A version's ``source`` and ``run_id`` point at the source store; the copy points them at the imported run
or logged model (``models:/m-…``, ``runs:/…`` and paths under the run's or model's artifact location are
rewritten). Each copied version carries ``opsloop.import.source_version`` so a later import skips it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

from opsloop.mlops.migration.summary import ImportSummary
from opsloop.mlops.migration.tracking import TrackingCopier, _message, paged

__all__ = ["SOURCE_VERSION_TAG", "RegistryCopier"]

SOURCE_VERSION_TAG = "opsloop.import.source_version"
_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[0-9a-f]{32})(?:/|$)")


def _model_of(version: Any) -> str | None:
    """The logged model a version was registered from. The ``mlflow`` client does not read ``model_id`` from
    a server's answer (only from a file or database store), but an MLflow 3 version's source names it."""
    model_id = getattr(version, "model_id", None)
    if model_id:
        return str(model_id)
    found = _LOGGED_MODEL_SOURCE.match(version.source or "")
    return found.group(1) if found else None


class RegistryCopier:
    """Copies the registry after ``tracking`` has copied the runs and logged models versions point at."""

    def __init__(self, tracking: TrackingCopier, summary: ImportSummary, progress: Callable[[str], None]) -> None:
        self.t, self.src, self.dst = tracking, tracking.src, tracking.dst
        self.summary, self.progress = summary, progress
        self.filtered = bool(tracking.options.experiments)
        self.dry_run = tracking.options.dry_run
        self._locations: dict[tuple[str, str], str] = {}

    def copy_all(self) -> None:
        for model in paged(lambda t: self.src.search_registered_models(max_results=1000, page_token=t)):
            try:
                self._model(model)
            except Exception as exc:  # noqa: BLE001 - one model failing must not stop the others
                self.summary.failed("registered_models", model.name, _message(exc))
                self.progress(f"registered model {model.name!r}: failed: {_message(exc)}")

    def _model(self, model: Any) -> None:
        name = model.name
        escaped = name.replace("'", "\\'")
        versions = sorted(paged(lambda t: self.src.search_model_versions(f"name = '{escaped}'", page_token=t)),
                          key=lambda v: int(v.version))
        if self.filtered:  # only what belongs to the chosen experiments
            versions = [v for v in versions if self._selected(v)]
            if not versions:
                return
        existing = self._destination(model)
        done = {v.tags.get(SOURCE_VERSION_TAG): v.version for v in existing if v.tags.get(SOURCE_VERSION_TAG)}
        numbers: dict[str, str] = {}
        for version in versions:
            numbers.update(self._version(name, version, done))
        for alias, number in (model.aliases or {}).items():
            self._alias(name, alias, str(number), numbers)

    def _selected(self, version: Any) -> bool:
        return (version.run_id in self.t.runs or version.run_id in self.t.failed_runs
                or _model_of(version) in self.t.models)

    def _destination(self, model: Any) -> list[Any]:
        """The destination's versions of ``model``, creating the model (with description and tags) if new."""
        from mlflow.exceptions import MlflowException

        try:
            self.dst.get_registered_model(model.name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
                raise
            self.summary.copied("registered_models", model.name, model.name)
            if not self.dry_run:
                self.dst.create_registered_model(model.name, tags=dict(model.tags) or None,
                                                 description=model.description or None)
                self.progress(f"registered model {model.name!r}: created")
            return []
        self.summary.skipped("registered_models", model.name, model.name)
        escaped = model.name.replace("'", "\\'")
        return list(paged(lambda t: self.dst.search_model_versions(f"name = '{escaped}'", page_token=t)))

    def _version(self, name: str, version: Any, done: dict[str, str]) -> dict[str, str]:
        old = str(version.version)
        key = f"{name}/{old}"
        if old in done:
            self.summary.skipped("model_versions", key, f"{name}/{done[old]}")
            return {old: done[old]}
        if self.dry_run:
            self.summary.copied("model_versions", key)
            self.progress(f"  version {key}: would be copied")
            return {}
        try:
            new = self._create_version(name, version)
        except Exception as exc:  # noqa: BLE001
            self.summary.failed("model_versions", key, _message(exc))
            self.progress(f"  version {key}: failed: {_message(exc)}")
            return {}
        self.summary.copied("model_versions", key, f"{name}/{new}")
        self.progress(f"  version {key} -> {name}/{new}")
        return {old: new}

    def _create_version(self, name: str, version: Any) -> str:
        old_run, old_model = version.run_id or None, _model_of(version)
        if old_run in self.t.failed_runs or (old_model and old_model not in self.t.models
                                             and old_run in self.t.runs):
            raise RuntimeError(f"its run {old_run} or logged model {old_model} was not copied")
        run_id = self.t.runs.get(old_run, old_run) if old_run else None
        model_id = self.t.models.get(old_model, old_model) if old_model else None
        tags = {**{k: v for k, v in version.tags.items() if k != SOURCE_VERSION_TAG},
                SOURCE_VERSION_TAG: str(version.version)}
        created = self.dst.create_model_version(
            name, self._source(version.source or "", old_run, old_model), run_id=run_id, tags=tags,
            description=version.description or None, model_id=model_id, await_creation_for=0)
        stage = version.current_stage
        if stage and stage != "None":
            with warnings.catch_warnings():  # stages are deprecated in MLflow 3, and still what the source holds
                warnings.simplefilter("ignore")
                self.dst.transition_model_version_stage(name, created.version, stage)
        return str(created.version)

    def _source(self, source: str, old_run: str | None, old_model: str | None) -> str:
        """``source`` pointing at the imported run or logged model instead of the source store's."""
        if old_model and old_model in self.t.models and source.startswith(f"models:/{old_model}"):
            return f"models:/{self.t.models[old_model]}" + source[len(f"models:/{old_model}"):]
        if old_run and old_run in self.t.runs and source.startswith(f"runs:/{old_run}"):
            return f"runs:/{self.t.runs[old_run]}" + source[len(f"runs:/{old_run}"):]
        for kind, old, new in (("model", old_model, self.t.models.get(old_model or "")),
                               ("run", old_run, self.t.runs.get(old_run or ""))):
            if not old or not new:
                continue
            prefix, target = self._location(kind, old, "src"), self._location(kind, new, "dst")
            if prefix and source.rstrip("/").startswith(prefix.rstrip("/")):
                return target.rstrip("/") + source.rstrip("/")[len(prefix.rstrip("/")):]
        return source

    def _location(self, kind: str, ident: str, side: str) -> str:
        if (side, ident) not in self._locations:
            client = self.src if side == "src" else self.dst
            self._locations[(side, ident)] = (client.get_logged_model(ident).artifact_location if kind == "model"
                                              else client.get_run(ident).info.artifact_uri)
        return self._locations[(side, ident)]

    def _alias(self, name: str, alias: str, old: str, numbers: dict[str, str]) -> None:
        label = f"{name}@{alias}"
        new = numbers.get(old)
        if new is not None and self._alias_version(name, alias) == new:
            self.summary.skipped("aliases", label)
        elif self.dry_run:
            self.summary.copied("aliases", label)
        elif new is None:
            if not self.filtered:  # with --experiment, an alias of a version outside them is simply not copied
                self.summary.failed("aliases", label, f"version {old} was not copied")
        else:
            self.dst.set_registered_model_alias(name, alias, new)
            self.summary.copied("aliases", label)

    def _alias_version(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.dst.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None
