"""Model resolvers: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``models:/m-…``, ``runs:/RUN/PATH`` →
a local MLflow model directory (``runs:/RUN/NAME`` is the model logged as ``NAME`` in that run, as in MLflow 3, else a
folder of the run's artifacts).

Both match ``opsloop.mlops.serving.ModelResolver``: a picklable callable ``(uri) -> pathlib.Path`` that
raises ``NotFoundError`` for an unknown model, version, alias or run, and returns the new version's
directory once an alias has moved.

- ``HttpModelResolver`` asks an opsloop (or MLflow) server over its REST API and downloads the files
  through the ``mlflow-artifacts`` proxy into a cache.
- ``LocalModelResolver`` reads the registry and the artifact store of a local ``Runtime`` directly; on a
  local artifact folder it returns the stored directory itself, without copying.

Downloads are cached per storage location (a logged model's or run's artifact folder never changes
content once registered), so re-resolving an alias that did not move costs two small requests. A download is
filled in a ``.download-*`` folder and renamed into place; those a killed process left are removed by the next
download into the cache once a day old.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from opsloop.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    OpsloopError,
    StorageError,
    ValidationFailedError,
)
from opsloop.mlops.registry.uris import parse_model_uri, run_model_query
from opsloop.storage.artifacts import ArtifactStore, LocalArtifactStore, safe_path
from opsloop.storage.artifacts.base import STALE_UPLOAD_AGE_S

__all__ = ["HttpModelResolver", "LocalModelResolver", "artifact_store_key", "default_cache_dir"]

_SCHEME = "mlflow-artifacts:"
_API = "/api/2.0/mlflow"
_PROXY = "/api/2.0/mlflow-artifacts/artifacts"
_DOWNLOAD_PREFIX = ".download-"


def default_cache_dir() -> Path:
    """``$OPSLOOP_MODEL_CACHE`` or ``<tmp>/opsloop-model-cache``."""
    return Path(os.environ.get("OPSLOOP_MODEL_CACHE") or Path(tempfile.gettempdir()) / "opsloop-model-cache")


def artifact_store_key(uri: str) -> str:
    """The artifact-store key of an ``mlflow-artifacts:/…`` (or ``mlflow-artifacts://host/…``) URI."""
    if not uri.startswith(_SCHEME):
        raise NotFoundError(f"Model files at {uri!r} are not in this server's artifact store", field="model_uri")
    parsed = urlparse(uri)
    return safe_path(parsed.path.lstrip("/"))


def _remove_stale_downloads(cache_dir: Path) -> None:
    """Remove the half-filled download folders of processes killed while downloading (a model can be GBs), once
    a day untouched: a younger one may be another process' download in progress."""
    cutoff = time.time() - STALE_UPLOAD_AGE_S
    for entry in os.scandir(cache_dir):
        if entry.name.startswith(_DOWNLOAD_PREFIX) and entry.is_dir(follow_symlinks=False):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    shutil.rmtree(entry.path)
            except OSError:  # renamed into place or removed by another process meanwhile
                continue


def _cached(cache_dir: Path, artifact_uri: str, fill: Any) -> Path:
    """The cache folder of ``artifact_uri``, filled once by ``fill(tmp_dir)`` and renamed into place."""
    final = cache_dir / hashlib.sha256(artifact_uri.encode()).hexdigest()[:32]
    if final.is_dir():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_downloads(cache_dir)
    tmp = Path(tempfile.mkdtemp(prefix=_DOWNLOAD_PREFIX, dir=cache_dir))
    try:
        fill(tmp)
        if not any(tmp.iterdir()):
            raise NotFoundError(f"No model files at {artifact_uri}", field="model_uri")
        try:
            os.rename(tmp, final)
        except OSError:  # another process filled it first; theirs is as good as ours
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


class HttpModelResolver:
    """Resolves model URIs against an opsloop server at ``tracking_uri`` (``http://host:port``).

    Args:
        tracking_uri: the server; defaults to ``MLFLOW_TRACKING_URI``.
        cache_dir: where downloads are kept (default ``default_cache_dir()``).
        headers: extra request headers (e.g. ``Authorization``).
        timeout: seconds per request.
    """

    def __init__(self, tracking_uri: str | None = None, cache_dir: str | Path | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
        if not uri.startswith(("http://", "https://")):
            raise InvalidInputError(f"HttpModelResolver needs an http(s) server URI, got {uri!r}",
                                    field="tracking_uri")
        self.tracking_uri = uri.rstrip("/")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.headers = dict(headers or {})
        self.timeout = timeout

    def __call__(self, uri: str) -> Path:
        with httpx.Client(base_url=self.tracking_uri, headers=self.headers, timeout=self.timeout) as client:
            artifact_uri = self.artifact_uri(client, uri)
            key = artifact_store_key(artifact_uri)
            return _cached(self.cache_dir, artifact_uri, lambda tmp: self._download(client, key, tmp))

    def artifact_uri(self, client: httpx.Client, uri: str) -> str:
        """Where the server keeps the files of ``uri``."""
        parsed = parse_model_uri(uri)
        if parsed.kind == "run":
            info = _get(client, f"{_API}/runs/get", {"run_id": parsed.name})["run"]["info"]
            root, path = info["artifact_uri"], parsed.path
            query = run_model_query(parsed)
            if query is not None:
                models = _post(client, f"{_API}/logged-models/search", {
                    "experiment_ids": [info["experiment_id"]], "filter": query[0], "max_results": 1}).get("models")
                if models:
                    root, path = models[0]["info"]["artifact_uri"], query[1]
            return posixpath.join(root, path) if path else root
        if parsed.kind == "logged_model":
            return _get(client, f"{_API}/logged-models/{quote(parsed.name, safe='')}")["model"]["info"]["artifact_uri"]
        if parsed.kind == "version":
            version = str(parsed.version)
        elif parsed.kind == "stage":
            found = _post(client, f"{_API}/registered-models/get-latest-versions",
                          {"name": parsed.name, "stages": [parsed.stage]}).get("model_versions") or []
            if not found:
                raise NotFoundError(f"No version of {parsed.name} is in stage {parsed.stage}", field="model_uri")
            version = max(found, key=lambda mv: int(mv["version"]))["version"]
        else:
            alias = parsed.alias or "latest"  # only alias URIs carry one; models:/NAME/latest has none
            found = by_alias(lambda: _get(client, f"{_API}/registered-models/alias",
                                          {"name": parsed.name, "alias": alias}), parsed.name, alias)
            version = found["model_version"]["version"]
        return _get(client, f"{_API}/model-versions/get-download-uri",
                    {"name": parsed.name, "version": version})["artifact_uri"]

    def _download(self, client: httpx.Client, key: str, dest: Path) -> None:
        listing = _get(client, _PROXY, {"path": key}).get("files") or []
        for item in listing:
            name = safe_path(posixpath.basename(item["path"]), allow_empty=False)
            child = posixpath.join(key, name)
            if item.get("is_dir"):
                (dest / name).mkdir()
                self._download(client, child, dest / name)
                continue
            with client.stream("GET", f"{_PROXY}/{quote(child)}") as response:
                check_response(response)
                with open(dest / name, "wb") as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)


_ERRORS: dict[str, type[OpsloopError]] = {
    "RESOURCE_DOES_NOT_EXIST": NotFoundError, "RESOURCE_ALREADY_EXISTS": AlreadyExistsError,
    "INVALID_PARAMETER_VALUE": InvalidInputError, "INVALID_STATE": InvalidStateError,
    "VALIDATION_FAILED": ValidationFailedError,
}


def check_response(response: httpx.Response) -> None:
    """Raise the domain error an error response stands for (by its MLflow ``error_code``, else its status)."""
    if response.status_code < 400:
        return
    response.read()
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = body.get("message") or response.text
    error = _ERRORS.get(body.get("error_code", "")) or {404: NotFoundError, 400: InvalidInputError}.get(
        response.status_code)
    if error is not None:
        raise error(message, field=body.get("field") or "model_uri")
    raise StorageError(f"{response.request.method} {response.request.url.path} failed with "
                       f"{response.status_code}: {message}")


def by_alias(fetch: Callable[[], dict[str, Any]], name: str, alias: str) -> dict[str, Any]:
    """``fetch()``'s answer to ``GET registered-models/alias``, raising ``NotFoundError`` for an alias that is not set.

    MLflow's server (and opsloop's, which speaks its protocol) refuses that look-up with 400 INVALID_PARAMETER_VALUE
    "Registered model alias A not found."; any other refusal (a malformed alias, say) is raised as it came.
    """
    try:
        return fetch()
    except InvalidInputError as exc:
        if not exc.message.rstrip(".").endswith(f"alias {alias} not found"):
            raise
        raise NotFoundError(f"Registered model alias {alias} not found for model {name}.", field="alias") from exc


def _get(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise StorageError(f"cannot reach the model registry at {client.base_url}: {exc}") from exc
    return _answer(client, response)


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise StorageError(f"cannot reach the model registry at {client.base_url}: {exc}") from exc
    return _answer(client, response)


def _answer(client: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    """A registry answer's JSON object; a web page or anything but an object (another server at that URL)
    is a ``StorageError`` naming it, not a decoding traceback."""
    check_response(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise StorageError(f"{client.base_url} does not answer as a model registry ({response.request.method} "
                           f"{response.request.url.path} gave {response.headers.get('content-type', 'no JSON')})")
    return body


class LocalModelResolver:
    """Resolves model URIs with a registry store and artifact store in this process.

    Build it with ``LocalModelResolver.for_runtime(runtime)``; pickling it sends the runtime's settings,
    and the copy opens its own stores.
    """

    def __init__(self, registry: Any, artifacts: ArtifactStore, cache_dir: str | Path | None = None,
                 settings: Any = None) -> None:
        self.registry = registry  # a SqlRegistryStore (anything with ``artifact_uri(model_uri) -> str``)
        self.artifacts = artifacts
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.settings = settings

    @classmethod
    def for_runtime(cls, runtime: Any, cache_dir: str | Path | None = None) -> LocalModelResolver:
        return cls(runtime.registry, runtime.artifacts, cache_dir, settings=runtime.settings)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self.settings is None:
            raise TypeError("a LocalModelResolver built without settings cannot be pickled; use for_runtime()")
        return _rebuild_local, (self.settings, str(self.cache_dir))

    def __call__(self, uri: str) -> Path:
        artifact_uri = self.registry.artifact_uri(uri)
        key = artifact_store_key(artifact_uri)
        if isinstance(self.artifacts, LocalArtifactStore):
            folder = self.artifacts.root / key
            if not folder.is_dir():
                raise NotFoundError(f"No model files at {artifact_uri}", field="model_uri")
            return folder
        return _cached(self.cache_dir, artifact_uri, lambda tmp: self._copy(key, tmp))

    def _copy(self, key: str, dest: Path) -> None:
        for info in self.artifacts.walk(key):
            target = dest / posixpath.relpath(info.path, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                for chunk in self.artifacts.open_read(info.path):
                    fh.write(chunk)


def _rebuild_local(settings: Any, cache_dir: str) -> LocalModelResolver:
    from opsloop.runtime import build_runtime  # the composition root; imported only when unpickling

    return LocalModelResolver.for_runtime(build_runtime(settings), cache_dir)
