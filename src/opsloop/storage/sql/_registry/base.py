"""What every part of the SQL model registry shares: the database, model and version row lookups, clocks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from opsloop.errors import NotFoundError
from opsloop.mlops.registry.identifiers import check_model_name, parse_version
from opsloop.storage.sql import schema as t
from opsloop.storage.sql.engine import Database

if TYPE_CHECKING:
    from opsloop.mlops.registry.entities import ModelVersion, Promotion, RegisteredModel, Validation
    from opsloop.mlops.registry.uris import ModelUri
    from opsloop.storage.sql.tracking import SqlTrackingStore

_RM, _MV = t.registered_models.c, t.model_versions.c


def _now_ms() -> int:
    return int(time.time() * 1000)


class RegistryStoreBase:
    """The state and lookups the registry store's parts share; ``SqlRegistryStore`` composes the parts."""

    db: Database
    tracking: SqlTrackingStore

    if TYPE_CHECKING:  # provided by the parts composed into SqlRegistryStore
        def get_registered_model(self, name: str) -> RegisteredModel: ...

        def _load_models(self, conn: Connection, names: Sequence[str]) -> list[RegisteredModel]: ...

        def get_model_version(self, name: str, version: object) -> ModelVersion: ...

        def _load_versions(self, conn: Connection, keys: Sequence[tuple[str, int]]) -> list[ModelVersion]: ...

        def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]: ...

        def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

        @staticmethod
        def _audit(conn: Connection, name: str, alias: str, from_version: int | None, to_version: int | None,
                   actor: str, reason: str, validation_id: int | None = None) -> Promotion: ...

        def _latest_validation(self, conn: Connection, name: str, version: int) -> Validation | None: ...

        def resolve_version(self, uri: ModelUri) -> ModelVersion: ...

        def artifact_uri(self, model_uri: str) -> str: ...

    @staticmethod
    def _model_row(conn: Connection, name: object, missing_ok: bool = False, lock: bool = False):  # noqa: ANN205
        check_model_name(name)
        query = select(t.registered_models).where(_RM.name == name)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None and not missing_ok:
            raise NotFoundError(f"Registered Model with name={name} not found", field="name")
        return row

    @staticmethod
    def _version_row(conn: Connection, name: str, version: object):  # noqa: ANN205
        check_model_name(name)
        number = parse_version(version)
        row = conn.execute(select(t.model_versions).where(_MV.name == name, _MV.version == number, ~_MV.deleted)
                           ).first()
        if row is None:
            raise NotFoundError(f"Model Version (name={name}, version={number}) not found", field="version")
        return row
