"""Composition root: settings → database → stores → services. Built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from opsloop.errors import StorageError
from opsloop.settings import Settings
from opsloop.storage.artifacts import ArtifactStore, open_artifact_store
from opsloop.storage.sql import Database, open_database
from opsloop.storage.sql.tracking import SqlTrackingStore

__all__ = ["Runtime", "build_runtime"]


@dataclass
class Runtime:
    settings: Settings
    db: Database
    artifacts: ArtifactStore

    @cached_property
    def tracking(self) -> SqlTrackingStore:
        return SqlTrackingStore(self.db, artifact_root="mlflow-artifacts:")

    @cached_property
    def registry(self):  # noqa: ANN201 - SqlRegistryStore, imported lazily
        from opsloop.storage.sql.registry import SqlRegistryStore

        return SqlRegistryStore(self.db, self.tracking)

    @cached_property
    def aiops(self):  # noqa: ANN201 - AiopsStores (signals, incidents, ops), imported lazily
        from opsloop.storage.sql.incidents import AiopsStores

        return AiopsStores(self.db)

    @cached_property
    def log_templates(self):  # noqa: ANN201 - SqlTemplateStore, imported lazily
        from opsloop.storage.sql.log_templates import SqlTemplateStore

        return SqlTemplateStore(self.db)

    def close(self) -> None:
        self.db.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Open the stores the settings name, creating the embedded data folder on first start."""
    storage = settings.storage
    if not storage.database_url or not storage.artifact_root:
        try:
            storage.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the data folder {str(storage.data_dir)!r}: {exc.strerror or exc}",
                               field="storage.data_dir") from None
    db = open_database(storage.resolved_database_url, pool_size=storage.pool_size)
    artifacts = open_artifact_store(storage.resolved_artifact_root, s3_endpoint_url=storage.s3_endpoint_url)
    return Runtime(settings=settings, db=db, artifacts=artifacts)
