"""The ``mlflow-artifacts`` proxy and the run, logged-model and model-version artifact endpoints MLflow's client and UI use."""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Any
from urllib.parse import quote

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.runtime import Runtime
from opsloop.server.mlflow._endpoint import PREFIXES, api_route
from opsloop.server.wire import Body, json_response
from opsloop.storage.artifacts import safe_path

__all__ = ["artifact_key", "routes"]

_PROXY = "/api/2.0/mlflow-artifacts/artifacts"
_SCHEME = "mlflow-artifacts:"


def artifact_key(uri: str, path: str | None = None) -> str:
    """The store key of ``path`` inside an ``mlflow-artifacts:/…`` URI."""
    if not uri.startswith(_SCHEME):
        raise InvalidInputError(f"Artifact URI {uri!r} is not served by this server", field="artifact_uri")
    base = uri[len(_SCHEME):]
    if base.startswith("//"):  # mlflow-artifacts://host:port/path
        base = "/" + base[2:].split("/", 1)[-1] if "/" in base[2:] else ""
    base = safe_path(base.lstrip("/"))
    rel = safe_path(path)
    return posixpath.join(base, rel) if rel else base


def _file_infos(rt: Runtime, key: str, strip: str) -> list[dict[str, Any]]:
    out = []
    for info in rt.artifacts.list(key):
        rel = info.path[len(strip):].lstrip("/") if strip else info.path
        item: dict[str, Any] = {"path": rel, "is_dir": info.is_dir}
        if not info.is_dir:
            item["file_size"] = info.file_size
        out.append(item)
    return out


def _disposition(name: str) -> str:
    """``inline`` with the file's name; a name beyond plain ASCII (or with quotes) as RFC 6266's ``filename*``,
    since a header holds latin-1 only (an emoji in a name was a 500)."""
    quoted = quote(name)
    return f'inline; filename="{name}"' if quoted == name else f"inline; filename*=utf-8''{quoted}"


# What MLflow's server sends as text/plain (mlflow.utils.mime_type_utils): a browser shows these instead of
# downloading them, MLmodel and MLproject (no extension) included.
_TEXT_EXTENSIONS = frozenset({
    "txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon", "toml", "yaml", "yml",
    "xml", "js", "py", "py3", "csv", "tsv", "md", "rst", "ipynb", "MLmodel", "MLproject"})


def _media_type(filename: str) -> str:
    name = posixpath.basename(filename)
    extension = posixpath.splitext(name)[1].lstrip(".") or name
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media in ("application/json", "application/x-yaml"):
        return media
    if extension in _TEXT_EXTENSIONS or media.startswith("text/"):
        return "text/plain; charset=utf-8"  # never text/html: an uploaded page must not run here
    return media


async def _download(rt: Runtime, key: str, filename: str) -> Response:
    size = await run_in_threadpool(rt.artifacts.size, key)
    if size is None:
        if await run_in_threadpool(rt.artifacts.list, key):  # as MLflow's server answers a folder
            raise InvalidInputError(f"Artifact path refers to a directory, not a file: {key!r}", field="path")
        raise NotFoundError(f"No artifact at {key!r}", field="path")
    chunks = await run_in_threadpool(rt.artifacts.open_read, key)
    media = _media_type(filename)
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": _disposition(posixpath.basename(filename)),
        # Uploaded files are untrusted: an SVG or HTML artifact opened directly must not run scripts here.
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(iterate_in_threadpool(chunks), media_type=media, headers=headers)


async def upload(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    key = safe_path(request.path_params["path"], allow_empty=False)
    await rt.artifacts.write(key, request.stream())
    return json_response({})


async def download(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    key = safe_path(request.path_params["path"], allow_empty=False)
    return await _download(rt, key, key)


async def remove(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    await run_in_threadpool(rt.artifacts.delete, safe_path(request.path_params["path"], allow_empty=False))
    return json_response({})


async def list_proxy(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    key = safe_path(request.query_params.get("path"))
    files = await run_in_threadpool(_file_infos, rt, key, key)
    return json_response({"files": [{**f, "path": posixpath.basename(f["path"])} for f in files]})


def list_run_artifacts(rt: Runtime, b: Body) -> dict[str, Any]:
    run = rt.tracking.get_run(b.run_id())
    rel = safe_path(b.str("path"))
    root = artifact_key(run.info.artifact_uri)
    files = _file_infos(rt, artifact_key(run.info.artifact_uri, rel), root)
    return {"root_uri": run.info.artifact_uri, "files": files}


def list_logged_model_artifacts(rt: Runtime, b: Body) -> dict[str, Any]:
    """``GET /logged-models/{model_id}/artifacts/directories[?artifact_directory_path=…]`` (MLflow's
    ListLoggedModelArtifacts): the files of a logged model, paths relative to its artifact root."""
    model = rt.tracking.get_logged_model(b.str("model_id", required=True))
    rel = safe_path(b.str("artifact_directory_path"))
    root = artifact_key(model.artifact_uri)
    return {"root_uri": model.artifact_uri, "files": _file_infos(rt, artifact_key(model.artifact_uri, rel), root)}


async def get_logged_model_artifact(request: Request) -> Response:
    """``/logged-models/{model_id}/artifacts/files?artifact_file_path=…`` as MLflow's UI asks for a logged
    model's file."""
    rt: Runtime = request.app.state.runtime
    path = request.query_params.get("artifact_file_path")
    if not path:
        raise InvalidInputError('Request must include the "artifact_file_path" query parameter.',
                                field="artifact_file_path")
    path = safe_path(path, allow_empty=False)
    model = await run_in_threadpool(rt.tracking.get_logged_model, request.path_params["model_id"])
    return await _download(rt, artifact_key(model.artifact_uri, path), path)


async def get_artifact(request: Request) -> Response:
    """``/get-artifact?run_uuid=…&path=…`` as MLflow's UI asks for run files."""
    rt: Runtime = request.app.state.runtime
    run_id = request.query_params.get("run_uuid") or request.query_params.get("run_id") or ""
    path = safe_path(request.query_params.get("path"), allow_empty=False)
    run = await run_in_threadpool(rt.tracking.get_run, run_id)
    return await _download(rt, artifact_key(run.info.artifact_uri, path), path)


async def multipart_unsupported(_request: Request) -> Response:
    """``/mlflow-artifacts/mpu/{create,complete,abort}/…``: uploads through this server are stored whole, so
    the answer is MLflow's for a store without multipart (501 and its message), on which the client sends
    the file in one request instead."""
    return json_response({"error_code": "NOT_IMPLEMENTED",
                          "message": "Multipart upload is not supported for the current artifact repository"}, 501)


routes = [
    Route(_PROXY, list_proxy, methods=["GET"]),
    Route("/api/2.0/mlflow-artifacts/mpu/{step:str}/{path:path}", multipart_unsupported, methods=["POST"]),
    Route(_PROXY + "/{path:path}", upload, methods=["PUT"]),
    Route(_PROXY + "/{path:path}", download, methods=["GET"]),
    Route(_PROXY + "/{path:path}", remove, methods=["DELETE"]),
    *api_route("/artifacts/list", ["GET"], list_run_artifacts),
    *api_route("/logged-models/{model_id}/artifacts/directories", ["GET"], list_logged_model_artifacts),
    *(Route(prefix + "/logged-models/{model_id}/artifacts/files", get_logged_model_artifact, methods=["GET"])
      for prefix in PREFIXES),
    Route("/get-artifact", get_artifact, methods=["GET"]),
    Route("/ajax-api/2.0/mlflow/get-artifact", get_artifact, methods=["GET"]),
]
