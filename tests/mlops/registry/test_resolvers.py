"""Model resolvers turn registry URIs into local MLflow model folders, over HTTP and on a local runtime."""

from __future__ import annotations

import pickle
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from tests.mlops.registry.conftest import LoggedSklearn, Server, unique

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.registry import HttpModelResolver, LocalModelResolver
from opsloop.mlops.serving import ModelResolver
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings


@pytest.fixture
def champion(mlflow_at: str, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> str:
    """A model with versions 1 and 2 (the two logged models); @champion → 1."""
    name = unique("resolve")
    for logged in sklearn_models:
        mlflow.register_model(logged.model_uri, name)
    MlflowClient(mlflow_at, mlflow_at).set_registered_model_alias(name, "champion", "1")
    return name


def _model_uuid(folder: Path) -> str:
    return next(line.split(":", 1)[1].strip() for line in (folder / "MLmodel").read_text().splitlines()
                if line.startswith("model_uuid:"))


def test_http_resolver_follows_the_alias(registry_server: Server, champion: str, tmp_path: Path,
                                         sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    resolver = HttpModelResolver(registry_server.url, cache_dir=tmp_path / "cache")
    assert isinstance(resolver, ModelResolver)
    first = resolver(f"models:/{champion}@champion")
    assert (first / "MLmodel").is_file() and (first / "requirements.txt").is_file()
    assert resolver(f"models:/{champion}@champion") == first  # cached, not downloaded again
    assert resolver(f"models:/{champion}/1") == first
    assert resolver(sklearn_models[0].model_uri) == first
    MlflowClient(registry_server.url, registry_server.url).set_registered_model_alias(champion, "champion", "2")
    moved = resolver(f"models:/{champion}@champion")
    assert moved != first and _model_uuid(moved) != _model_uuid(first)
    assert resolver(f"models:/{champion}/latest") == moved


def test_http_resolver_loads_with_pyfunc_and_survives_pickling(registry_server: Server, champion: str,
                                                               tmp_path: Path,
                                                               sklearn_models: tuple[LoggedSklearn, LoggedSklearn]
                                                               ) -> None:
    resolver = pickle.loads(pickle.dumps(HttpModelResolver(registry_server.url, cache_dir=tmp_path)))
    folder = resolver(f"models:/{champion}@champion")
    logged = sklearn_models[0]
    assert (mlflow.pyfunc.load_model(str(folder)).predict(logged.X) == logged.expected).all()


def test_http_resolver_reports_unknown_models_as_not_found(registry_server: Server, champion: str,
                                                           tmp_path: Path) -> None:
    resolver = HttpModelResolver(registry_server.url, cache_dir=tmp_path)
    for uri in (f"models:/{champion}@nobody", f"models:/{champion}/9", f"models:/{unique('ghost')}/1",
                "models:/m-0000", "runs:/0000/model"):
        with pytest.raises(NotFoundError):
            resolver(uri)
    with pytest.raises(InvalidInputError):
        resolver("s3://bucket/model")


def test_http_resolver_resolves_run_uris(registry_server: Server, tmp_path: Path,
                                         sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    logged = sklearn_models[0]
    run = MlflowClient(registry_server.url).get_run(logged.run_id)
    key = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    httpx.put(f"{registry_server.url}/api/2.0/mlflow-artifacts/artifacts/{key}/notes/readme.txt", content=b"hi")
    folder = HttpModelResolver(registry_server.url, cache_dir=tmp_path)(f"runs:/{logged.run_id}/notes")
    assert (folder / "readme.txt").read_bytes() == b"hi"


def test_run_uris_find_the_model_logged_by_name_in_that_run(registry_server: Server, tmp_path: Path,
                                                           sklearn_models: tuple[LoggedSklearn, LoggedSklearn]
                                                           ) -> None:
    # mlflow 3's log_model(name="model") keeps the files with the logged model, not in the run's artifacts;
    # runs:/RUN/model names that model (mlflow.pyfunc.load_model resolves it so), which serve/predict missed.
    logged = sklearn_models[1]
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(registry_server.data_dir)}}, environ={}))
    try:
        resolvers = (HttpModelResolver(registry_server.url, cache_dir=tmp_path / "http"),
                     LocalModelResolver.for_runtime(runtime, cache_dir=tmp_path / "local"))
        for resolver in resolvers:
            folder = resolver(f"runs:/{logged.run_id}/model")
            assert _model_uuid(folder) == logged.model_id
            assert (mlflow.pyfunc.load_model(str(folder)).predict(logged.X) == logged.expected).all()
            with pytest.raises(NotFoundError):
                resolver(f"runs:/{logged.run_id}/no-such-model")
    finally:
        runtime.close()


def test_local_resolver_returns_the_stored_folder(registry_server: Server, champion: str, tmp_path: Path) -> None:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(registry_server.data_dir)}}, environ={}))
    try:
        resolver = LocalModelResolver.for_runtime(runtime, cache_dir=tmp_path)
        assert isinstance(resolver, ModelResolver)
        folder = resolver(f"models:/{champion}@champion")
        assert (folder / "MLmodel").is_file()
        assert folder.is_relative_to(registry_server.data_dir.resolve())
        copy = pickle.loads(pickle.dumps(resolver))
        try:
            assert copy(f"models:/{champion}@champion") == folder
        finally:
            copy.registry.db.dispose()
        with pytest.raises(NotFoundError):
            resolver(f"models:/{champion}@nobody")
    finally:
        runtime.close()


def test_http_resolver_at_a_url_that_is_a_web_page_says_so(web_page_url: str, tmp_path: Path) -> None:
    """Another web server at the URL (a proxy's login page, a typo'd port) answers 200 with HTML."""
    from opsloop.errors import StorageError

    with pytest.raises(StorageError, match="does not answer as a model registry"):
        HttpModelResolver(web_page_url, cache_dir=tmp_path)("models:/churn@champion")


def test_half_filled_downloads_of_killed_processes_are_removed_once_a_day_old(registry_server: Server, champion: str,
                                                                             tmp_path: Path) -> None:
    import os
    import time

    cache = tmp_path / "cache"
    dead, alive = cache / ".download-k1l2m3n4", cache / ".download-a1b2c3d4"  # as tempfile.mkdtemp names them
    for folder in (dead, alive):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "model.skops").write_bytes(b"part of a model")
    old = time.time() - 2 * 86400
    os.utime(dead, (old, old))

    folder = HttpModelResolver(registry_server.url, cache_dir=cache)(f"models:/{champion}@champion")
    assert (folder / "MLmodel").is_file()
    assert not dead.exists()
    assert alive.exists()  # maybe another process' download in progress
