"""Model URIs: the version a ``models:/`` URI names, and where a model URI's files are."""

from __future__ import annotations

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.registry.entities import ModelVersion
from opsloop.mlops.registry.identifiers import LATEST_ALIAS
from opsloop.mlops.registry.uris import ModelUri, parse_model_uri, run_model_query
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
            run = self.tracking.get_run(uri.name)
            root, path = run.info.artifact_uri, uri.path
            query = run_model_query(uri)
            if query is not None:
                models, _ = self.tracking.search_logged_models([run.info.experiment_id], query[0], max_results=1)
                if models:
                    root, path = models[0].artifact_uri, query[1]
            return f"{root.rstrip('/')}/{path}" if path else root
        if uri.kind == "logged_model":
            return self.tracking.get_logged_model(uri.name).artifact_uri
        return self.resolve_version(uri).download_uri
