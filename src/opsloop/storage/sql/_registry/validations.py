"""Validation reports of model versions, and a version's lineage (run, datasets, metrics)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from opsloop.errors import InvalidInputError, NotFoundError, OpsloopError
from opsloop.mlops.registry.entities import Lineage, Validation
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import inserted_id
from opsloop.storage.sql._registry.base import RegistryStoreBase, _now_ms


class Validations(RegistryStoreBase):
    """Validations and lineage of model versions."""

    def record_validation(self, name: str, version: object, champion_version: object | None, passed: bool,
                          report: Mapping[str, Any]) -> int:
        """Store a validation report of ``version`` (compared with ``champion_version``); returns its id."""
        if not isinstance(passed, bool):
            raise InvalidInputError("'passed' must be true or false", field="passed")
        try:
            report_json = json.dumps(dict(report), allow_nan=False, default=str)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"The validation report is not JSON: {exc}", field="report") from None
        with self.db.write() as conn:
            row = self._version_row(conn, name, version)
            champion = None
            if champion_version is not None:
                try:
                    champion = self._version_row(conn, name, champion_version).version
                except NotFoundError as exc:  # the request's field, not the candidate's
                    raise NotFoundError(f"champion {exc.message}", field="champion_version") from None
            return inserted_id(conn.execute(t.model_validations.insert().values(
                name=name, version=row.version, champion_version=champion, passed=passed, report_json=report_json,
                time=_now_ms())))

    @staticmethod
    def _validation(r: Any) -> Validation:
        return Validation(r.id, r.name, r.version, r.champion_version, bool(r.passed), json.loads(r.report_json),
                          r.time)

    def _latest_validation(self, conn: Connection, name: str, version: int) -> Validation | None:
        v = t.model_validations.c
        row = conn.execute(select(t.model_validations).where(v.name == name, v.version == version)
                           .order_by(v.time.desc(), v.id.desc()).limit(1)).first()
        return self._validation(row) if row else None

    def list_validations(self, name: str, version: object) -> list[Validation]:
        """The validations of a version, newest first."""
        v = t.model_validations.c
        with self.db.read() as conn:
            row = self._version_row(conn, name, version)
            rows = conn.execute(select(t.model_validations).where(v.name == name, v.version == row.version)
                                .order_by(v.time.desc(), v.id.desc())).all()
        return [self._validation(r) for r in rows]

    def get_validation(self, validation_id: int) -> Validation:
        with self.db.read() as conn:
            row = conn.execute(select(t.model_validations).where(t.model_validations.c.id == validation_id)).first()
        if row is None:
            raise NotFoundError(f"Validation {validation_id} not found", field="validation_id")
        return self._validation(row)

    def lineage(self, name: str, version: object) -> Lineage:
        """The version's run, the run's dataset inputs and metrics, and its logged model (with its metrics)."""
        mv = self.get_model_version(name, version)
        out = Lineage(mv)
        if mv.run_id:
            try:
                out.run = self.tracking.get_run(mv.run_id)
            except OpsloopError:  # a run of another tracking server, or since purged
                out.run = None
        if mv.model_id:
            try:
                out.logged_model = self.tracking.get_logged_model(mv.model_id, allow_deleted=True)
            except NotFoundError:
                out.logged_model = None
        if out.run is not None:
            out.datasets = list(out.run.dataset_inputs)
            out.metrics = list(out.run.metrics)
        if out.logged_model is not None:
            seen = {(m.key, m.run_id) for m in out.metrics}
            out.metrics += [m for m in out.logged_model.metrics if (m.key, m.run_id) not in seen]
        return out
