"""Model URIs: local directories directly, registry and run URIs through a pluggable resolver."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from opsloop.errors import InvalidInputError, MissingDependencyError, NotFoundError

__all__ = ["MlflowClientResolver", "ModelResolver", "is_registry_uri", "resolve_model_uri"]

_REMOTE_SCHEMES = ("models", "runs", "models-by-id")


@runtime_checkable
class ModelResolver(Protocol):
    """Turns ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``runs:/RUN_ID/PATH`` into a local
    MLflow model directory.

    Implementations raise ``NotFoundError`` for an unknown model, version, alias or run. They must
    be picklable (``opsloop serve --workers N`` sends the resolver to each worker process).
    Calling again after an alias moved must return the directory of the new version.
    """

    def __call__(self, uri: str) -> Path: ...


def is_registry_uri(uri: str) -> bool:
    return urlparse(uri).scheme in _REMOTE_SCHEMES


def resolve_model_uri(uri: str, resolver: ModelResolver | None = None) -> Path:
    """Local directory for ``uri``.

    Raises:
        NotFoundError: the directory does not exist or the resolver does not know the URI.
        InvalidInputError: a registry URI with no resolver configured, or an unknown scheme.
    """
    parsed = urlparse(uri)
    if parsed.scheme in _REMOTE_SCHEMES:
        if resolver is None:
            raise InvalidInputError(
                f"cannot resolve {uri}: no model resolver configured: give the opsloop server with "
                "`opsloop --url http://HOST:PORT` (or OPSLOOP_URL / MLFLOW_TRACKING_URI), or its data folder "
                "with `opsloop --data-dir DIR`",
                field="model_uri",
            )
        return Path(resolver(uri))
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme in ("", ) or len(parsed.scheme) == 1:  # plain path (or a Windows drive letter)
        path = Path(uri)
    else:
        raise InvalidInputError(f"unsupported model URI scheme {parsed.scheme!r} in {uri}", field="model_uri")
    if not path.is_dir():
        raise NotFoundError(f"model directory {path} does not exist", field="model_uri")
    return path


class MlflowClientResolver:
    """Resolves URIs with the ``mlflow`` client against ``tracking_uri`` (default: MLFLOW_TRACKING_URI).

    An alias is first turned into its version (one cheap registry call); each version or run
    artifact is downloaded once into ``cache_dir`` and reused, so following an alias every few
    seconds costs no downloads until it moves. ``mlflow`` is imported only when a URI is resolved;
    it is not a core dependency.
    """

    def __init__(self, tracking_uri: str | None = None, cache_dir: str | None = None) -> None:
        self.tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        self.cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), f"opsloop-models-{os.getuid()}")

    def __call__(self, uri: str) -> Path:
        try:
            import mlflow.artifacts
            from mlflow.exceptions import MlflowException
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise MissingDependencyError(
                "resolving models:/ and runs:/ URIs without the opsloop server needs the mlflow "
                "package; install it with: pip install mlflow"
            ) from exc
        try:
            parsed = urlparse(uri)
            target = f"{parsed.netloc}{parsed.path}".lstrip("/")
            if parsed.scheme == "models" and "@" in target:
                name, alias = target.split("@", 1)
                client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
                version = client.get_model_version_by_alias(name, alias).version
                uri, target = f"models:/{name}/{version}", f"{name}/{version}"
            dst = Path(self.cache_dir) / parsed.scheme / hashlib.sha1(f"{self.tracking_uri}|{target}".encode()).hexdigest()[:16]
            if (dst / "MLmodel").is_file():
                return dst
            tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=_ensure(dst.parent)))
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp),
                                                             tracking_uri=self.tracking_uri))
        except MlflowException as exc:
            raise NotFoundError(f"cannot resolve {uri}: {exc.message}", field="model_uri") from exc
        try:
            local.rename(dst)  # atomic: a concurrent resolver finds either nothing or a whole model
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            return dst if (dst / "MLmodel").is_file() else local
        shutil.rmtree(tmp, ignore_errors=True)
        return dst


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
