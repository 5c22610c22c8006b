"""MLflow's REST API over HTTP, with httpx: one keep-alive connection pool, retries with backoff."""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson

from opsloop.errors import InvalidInputError, OpsloopError, StorageError
from opsloop.mlops.tracking.entities import DatasetInput, Experiment, Metric, Run, ViewType
from opsloop.sdk.transports._wire import (
    error_from_body,
    experiment_from_json,
    metric_from_json,
    num,
    run_from_json,
)
from opsloop.sdk.transports.base import Point, Transport, artifact_base
from opsloop.storage.artifacts.base import FileInfo, safe_path

__all__ = ["HttpTransport", "Retries"]

_API = "/api/2.0/mlflow"
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_JSON = {"Content-Type": "application/json"}
_INF = float("inf")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Retries:
    """How a request is retried on connection errors, 5xx (except 501) and 429.

    Attributes:
        attempts: retries after the first try (0 disables retrying).
        backoff: first delay in seconds; doubles on every retry, with jitter.
        max_backoff: the longest single delay in seconds.
    """

    attempts: int = 5
    backoff: float = 0.2
    max_backoff: float = 10.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        wait = min(self.max_backoff, self.backoff * (2 ** attempt)) * (0.5 + random.random() / 2)
        if retry_after:
            try:
                wait = max(wait, min(self.max_backoff, float(retry_after)))
            except ValueError:
                pass
        return wait


def _retryable(status: int) -> bool:
    return status == 429 or (status >= 500 and status != 501)


def _mlflow_answer(method: Callable[..., _T]) -> Callable[..., _T]:
    """An answer in a shape MLflow's REST API never has (another web server behind the URL, a proxy's login
    page) is a ``StorageError`` naming the server, not a ``KeyError`` from deep inside the parsing."""
    @functools.wraps(method)
    def wrapper(self: HttpTransport, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except OpsloopError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._not_mlflow(f"missing or malformed {exc}") from None

    return wrapper


class HttpTransport(Transport):
    """Talks to an opsloop (or MLflow) tracking server at ``url``.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:5000``.
        timeout: seconds for connect/read/write.
        retries: retry policy for transient failures.
        headers: extra headers on every request (e.g. ``Authorization``). Without an ``Authorization``
            header, the credentials of the ``mlflow`` client's environment are sent, as it sends them:
            ``MLFLOW_TRACKING_TOKEN`` (a bearer token), else ``MLFLOW_TRACKING_USERNAME`` and
            ``MLFLOW_TRACKING_PASSWORD`` (HTTP Basic).
        http_transport: an httpx transport to send through instead of the network
            (``httpx.MockTransport`` in tests).
        outage_patience: seconds a run's background metric batch keeps being resent after ``retries`` gave
            up (the server is restarting, a proxy answers 502…) before its points are reported lost.
    """

    def __init__(self, url: str, *, timeout: float = 60.0, retries: Retries | None = None,
                 headers: dict[str, str] | None = None, http_transport: httpx.BaseTransport | None = None,
                 outage_patience: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.retries = retries or Retries()
        self.outage_patience = outage_patience
        try:
            host = httpx.URL(self.url).host
        except httpx.InvalidURL as exc:
            raise InvalidInputError(f"Tracking URL {url!r} is not a valid URL: {exc}", field="url") from None
        if not host:
            raise InvalidInputError(f"Tracking URL {url!r} names no host", field="url")
        self._options: dict[str, Any] = {
            "base_url": self.url, "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            **_mlflow_credentials(headers or {}),
            "limits": httpx.Limits(max_keepalive_connections=4), "transport": http_transport}
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    @property
    def _http(self) -> httpx.Client:
        """The connection pool, opened on first use and again after ``close`` (as the embedded store's
        transport reopens): a run's own client is closed when the run ends, and may still be read from."""
        client = self._client
        if client is None or client.is_closed:
            with self._lock:
                if self._client is None or self._client.is_closed:
                    self._client = httpx.Client(**self._options)
                client = self._client
        return client

    # -- plumbing ---------------------------------------------------------------------------------
    def _send(self, make: Callable[[], httpx.Response]) -> httpx.Response:
        """Send with retries; returns a non-retryable response (which may be a 4xx)."""
        attempt = 0
        while True:
            try:
                response = make()
            except httpx.TransportError as exc:
                if attempt >= self.retries.attempts:
                    raise StorageError(f"cannot reach the tracking server at {self.url}: {exc}") from exc
                delay = self.retries.delay(attempt)
            else:
                if not _retryable(response.status_code) or attempt >= self.retries.attempts:
                    return response
                delay = self.retries.delay(attempt, response.headers.get("Retry-After"))
                response.close()
            time.sleep(delay)
            attempt += 1

    def _check(self, response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        if response.status_code < 400:
            raise InvalidInputError(f"{self.url} answered HTTP {response.status_code}, redirecting to "
                                    f"{response.headers.get('location', '?')}: give that server's URL", field="url")
        response.read()
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        raise error_from_body(response.status_code, body, response.text)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None) -> dict[str, Any]:
        content = orjson.dumps(body) if body is not None else None
        response = self._send(lambda: self._http.request(
            method, _API + path, content=content, params=params, headers=_JSON if content else None))
        self._check(response)
        return self._object(response) if response.content else {}

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object of a successful answer."""
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise self._not_mlflow(f"{response.headers.get('content-type') or 'a body'} that is not JSON") from None
        if not isinstance(doc, dict):
            raise self._not_mlflow(f"a JSON {type(doc).__name__}, not an object")
        return doc

    def _not_mlflow(self, what: str) -> StorageError:
        return StorageError(f"{self.url} answered with something that is not MLflow's REST API ({what}): "
                            "is it an opsloop or MLflow tracking server?")

    # -- experiments ------------------------------------------------------------------------------
    @_mlflow_answer
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        body = {"name": name, "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
        return str(self._call("POST", "/experiments/create", body)["experiment_id"])

    @_mlflow_answer
    def get_experiment(self, experiment_id: str) -> Experiment:
        found = self._call("GET", "/experiments/get", params={"experiment_id": experiment_id})
        return experiment_from_json(found["experiment"])

    @_mlflow_answer
    def get_experiment_by_name(self, name: str) -> Experiment:
        found = self._call("GET", "/experiments/get-by-name", params={"experiment_name": name})
        return experiment_from_json(found["experiment"])

    @_mlflow_answer
    def search_experiments(self, *, filter_string: str | None = None, order_by: Sequence[str] = (),
                           max_results: int = 1000, page_token: str | None = None,
                           view_type: int = ViewType.ACTIVE_ONLY) -> tuple[list[Experiment], str | None]:
        body = {"filter": filter_string, "order_by": list(order_by), "max_results": max_results,
                "page_token": page_token, "view_type": view_type}
        found = self._call("POST", "/experiments/search", {k: v for k, v in body.items() if v is not None})
        return [experiment_from_json(e) for e in found.get("experiments", [])], found.get("next_page_token")

    # -- runs -------------------------------------------------------------------------------------
    @_mlflow_answer
    def create_run(self, experiment_id: str, *, run_name: str | None = None, tags: dict[str, str] | None = None,
                   start_time: int | None = None) -> Run:
        tags = tags or {}
        body = {"experiment_id": experiment_id, "run_name": run_name, "start_time": start_time,
                "user_id": tags.get("mlflow.user"), "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        found = self._call("POST", "/runs/create", {k: v for k, v in body.items() if v is not None})
        return run_from_json(found["run"])

    @_mlflow_answer
    def get_run(self, run_id: str) -> Run:
        return run_from_json(self._call("GET", "/runs/get", params={"run_id": run_id})["run"])

    def update_run(self, run_id: str, *, status: str | None = None, end_time: int | None = None) -> None:
        body = {"run_id": run_id, "status": status, "end_time": end_time}
        self._call("POST", "/runs/update", {k: v for k, v in body.items() if v is not None})

    def log_batch(self, run_id: str, *, metrics: Sequence[Point] = (), params: dict[str, str] | None = None,
                  tags: dict[str, str] | None = None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "metrics": [
            {"key": k, "value": v if -_INF < v < _INF else num(v), "timestamp": ts, "step": step}
            for k, v, ts, step in metrics
        ]}
        if params:
            body["params"] = [{"key": k, "value": v} for k, v in params.items()]
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        self._call("POST", "/runs/log-batch", body)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        items = []
        for di in datasets:
            d = di.dataset
            dataset = {"name": d.name, "digest": d.digest, "source_type": d.source_type, "source": d.source,
                       "schema": d.schema, "profile": d.profile}
            items.append({"tags": [{"key": k, "value": v} for k, v in di.tags.items()],
                          "dataset": {k: v for k, v in dataset.items() if v is not None}})
        self._call("POST", "/runs/log-inputs", {"run_id": run_id, "datasets": items})

    @_mlflow_answer
    def get_metric_history(self, run_id: str, key: str, *, max_results: int | None = None,
                           page_token: str | None = None) -> tuple[list[Metric], str | None]:
        params = {"run_id": run_id, "metric_key": key, "max_results": max_results, "page_token": page_token}
        found = self._call("GET", "/metrics/get-history", params={k: v for k, v in params.items() if v is not None})
        return [metric_from_json(m, run_id) for m in found.get("metrics", [])], found.get("next_page_token")

    @_mlflow_answer
    def search_runs(self, experiment_ids: Sequence[str], *, filter_string: str | None = None,
                    order_by: Sequence[str] = (), max_results: int = 1000, page_token: str | None = None,
                    view_type: int = ViewType.ACTIVE_ONLY) -> tuple[list[Run], str | None]:
        body = {"experiment_ids": list(experiment_ids), "filter": filter_string, "order_by": list(order_by),
                "max_results": max_results, "page_token": page_token, "run_view_type": view_type}
        found = self._call("POST", "/runs/search", {k: v for k, v in body.items() if v is not None})
        return [run_from_json(r) for r in found.get("runs", [])], found.get("next_page_token")

    # -- artifacts --------------------------------------------------------------------------------
    @staticmethod
    def _key(artifact_uri: str, path: str) -> str:
        base, rel = artifact_base(artifact_uri), safe_path(path)
        return f"{base}/{rel}" if base and rel else (base or rel)

    def upload_artifact(self, artifact_uri: str, path: str, local_file: Path) -> None:
        url = f"{_ARTIFACTS}/{quote(self._key(artifact_uri, safe_path(path, allow_empty=False)))}"

        def put() -> httpx.Response:
            size = local_file.stat().st_size
            with local_file.open("rb") as fh:  # reopened on every attempt so a retry resends from the start
                return self._http.put(url, content=fh.read() if size < 1 << 20 else fh,
                                      headers={"Content-Length": str(size)})

        self._check(self._send(put))

    @_mlflow_answer
    def list_artifacts(self, artifact_uri: str, path: str = "") -> list[FileInfo]:
        rel = safe_path(path)
        response = self._send(lambda: self._http.get(_ARTIFACTS, params={"path": self._key(artifact_uri, rel)}))
        self._check(response)
        files = self._object(response).get("files", [])
        return [FileInfo(f"{rel}/{f['path']}" if rel else f["path"], bool(f.get("is_dir")),
                         None if f.get("is_dir") else int(f.get("file_size") or 0)) for f in files]

    @_mlflow_answer
    def logged_model_artifact_uri(self, experiment_id: str, filter_string: str) -> str | None:
        found = self._call("POST", "/logged-models/search",
                           {"experiment_ids": [experiment_id], "filter": filter_string, "max_results": 1})
        models = found.get("models") or []
        return models[0]["info"]["artifact_uri"] if models else None

    def download_artifact(self, artifact_uri: str, path: str, dst: Path) -> None:
        url = f"{_ARTIFACTS}/{quote(self._key(artifact_uri, safe_path(path, allow_empty=False)))}"
        response = self._send(lambda: self._http.send(self._http.build_request("GET", url), stream=True))
        try:
            self._check(response)
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.part")
            try:
                with tmp.open("wb") as fh:
                    for chunk in response.iter_bytes(1 << 20):
                        fh.write(chunk)
                tmp.replace(dst)
            except BaseException as exc:  # cut off, a full disk, Ctrl-C: no half file is left behind
                tmp.unlink(missing_ok=True)
                if isinstance(exc, httpx.TransportError):
                    raise StorageError(f"downloading {path!r} from {self.url} was cut off: {exc}") from exc
                raise
        finally:
            response.close()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _mlflow_credentials(headers: dict[str, str]) -> dict[str, Any]:
    """``headers``, and the credentials the ``mlflow`` client takes from its environment unless they hold some."""
    if any(k.lower() == "authorization" for k in headers):
        return {"headers": headers}
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return {"headers": {**headers, "Authorization": f"Bearer {token}"}}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    auth = httpx.BasicAuth(user, os.environ.get("MLFLOW_TRACKING_PASSWORD") or "") if user else None
    return {"headers": headers, "auth": auth}
