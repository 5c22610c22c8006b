"""Model URIs: the version a ``models:/`` URI names, and where a model URI's files are."""

from __future__ import annotations

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.registry.entities import ModelVersion
from opsloop.mlops.registry.identifiers import LATEST_ALIAS
from opsloop.mlops.registry.uris import ModelUri, parse_model_uri
from opsloop.storage.sql._registry.base import RegistryStoreBase


class ModelUris(RegistryStoreBase):
    """Resolution of model URIs."""

    def resolve_version(self, uri: ModelUri) -> ModelVersion:
        """The registered version a ``models:/NAME/…`` URI names (version, alias, latest or stage)."""
        if uri.kind == "version":
            return self.get_model_version(uri.name, uri.version)
        if uri.kind == "alias":
            return self.get_model_version_by_alias(uri.name, uri.alias or "")
        if uri.kind == "latest":
            return self.get_model_version_by_alias(uri.name, LATEST_ALIAS)
        if uri.kind == "stage":
            found = self.get_latest_versions(uri.name, [uri.stage or ""])
            if not found:
                raise NotFoundError(f"No version of {uri.name} is in stage {uri.stage}", field="stage")
            return found[0]
        raise InvalidInputError(f"{uri.kind} URIs do not name a registered version", field="model_uri")

    def artifact_uri(self, model_uri: str) -> str:
        """Where the files of ``model_uri`` are (an ``mlflow-artifacts:`` URI on an opsloop server)."""
        uri = parse_model_uri(model_uri)
        if uri.kind == "run":
            root = self.tracking.get_run(uri.name).info.artifact_uri.rstrip("/")
            return f"{root}/{uri.path}" if uri.path else root
        if uri.kind == "logged_model":
            return self.tracking.get_logged_model(uri.name).artifact_uri
        return self.resolve_version(uri).download_uri
