"""The registry's REST wire format and error bodies, checked with raw HTTP against a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.mlops.registry.conftest import LoggedSklearn, Server, unique

API = "/api/2.0/mlflow"


@pytest.fixture
def http(registry_server: Server) -> httpx.Client:
    with httpx.Client(base_url=registry_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def model(http: httpx.Client, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> str:
    """A registered model with version 1 (from a logged model) aliased @champion."""
    name = unique("wire")
    assert http.post(f"{API}/registered-models/create", json={"name": name}).status_code == 200
    logged = sklearn_models[0]
    r = http.post(f"{API}/model-versions/create", json={"name": name, "source": logged.model_uri,
                                                         "run_id": logged.run_id, "model_id": logged.model_id})
    assert r.status_code == 200, r.text
    assert http.post(f"{API}/registered-models/alias",
                     json={"name": name, "alias": "champion", "version": "1"}).status_code == 200
    return name


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return body


def test_model_version_json_shape(http: httpx.Client, model: str) -> None:
    mv = http.get(f"{API}/model-versions/get", params={"name": model, "version": "1"}).json()["model_version"]
    assert mv["version"] == "1" and isinstance(mv["creation_timestamp"], int)
    assert isinstance(mv["last_updated_timestamp"], int)
    assert (mv["status"], mv["current_stage"], mv["aliases"]) == ("READY", "None", ["champion"])
    assert mv["model_id"].startswith("m-") and mv["source"] == f"models:/{mv['model_id']}"
    rm = http.get(f"{API}/registered-models/get", params={"name": model}).json()["registered_model"]
    assert rm["aliases"] == [{"alias": "champion", "version": "1"}]
    assert [v["version"] for v in rm["latest_versions"]] == ["1"]


def test_every_prefix_serves_the_registry(http: httpx.Client, model: str) -> None:
    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow"):
        r = http.get(f"{prefix}/registered-models/alias", params={"name": model, "alias": "champion"})
        assert r.status_code == 200 and r.json()["model_version"]["version"] == "1"


def test_unknown_model_and_version_are_404(http: httpx.Client, model: str) -> None:
    body = _error(http.get(f"{API}/registered-models/get", params={"name": unique("ghost")}),
                  404, "RESOURCE_DOES_NOT_EXIST")
    assert "not found" in body["message"]
    _error(http.get(f"{API}/model-versions/get", params={"name": model, "version": "9"}),
           404, "RESOURCE_DOES_NOT_EXIST")
    _error(http.request("DELETE", f"{API}/registered-models/delete", json={"name": unique("ghost")}),
           404, "RESOURCE_DOES_NOT_EXIST")


def test_duplicate_model_is_resource_already_exists(http: httpx.Client, model: str) -> None:
    _error(http.post(f"{API}/registered-models/create", json={"name": model}), 400, "RESOURCE_ALREADY_EXISTS")


@pytest.mark.parametrize("payload, field", [
    ({"alias": "champion", "version": "abc"}, "version"),
    ({"alias": "champion", "version": [1]}, "version"),
    ({"alias": "champion", "version": True}, "version"),
    ({"alias": 5, "version": "1"}, "alias"),
    ({"alias": "bad alias", "version": "1"}, "alias"),
    ({"alias": "latest", "version": "1"}, "alias"),
    ({"alias": "v2", "version": "1"}, "alias"),
    ({"version": "1"}, "alias"),
])
def test_bad_alias_or_version_is_400_naming_the_field(http: httpx.Client, model: str, payload: dict,
                                                      field: str) -> None:
    body = _error(http.post(f"{API}/registered-models/alias", json={"name": model, **payload}),
                  400, "INVALID_PARAMETER_VALUE")
    assert body["field"] == field, body


@pytest.mark.parametrize("path, params, field", [
    ("/model-versions/get", {"version": "one"}, "version"),
    ("/model-versions/get-download-uri", {"version": ""}, "version"),
    ("/registered-models/search", {"filter": "name ~ 'x'"}, "filter"),
    ("/registered-models/search", {"max_results": "5000"}, "max_results"),
    ("/model-versions/search", {"filter": "metrics.acc > 1"}, "filter"),
    ("/model-versions/search", {"order_by": "colour"}, "order_by"),
])
def test_bad_query_parameters_are_400_naming_the_field(http: httpx.Client, model: str, path: str, params: dict,
                                                       field: str) -> None:
    body = _error(http.get(API + path, params={"name": model, **params}), 400, "INVALID_PARAMETER_VALUE")
    assert body["field"] == field, body


def test_sources_outside_known_artifacts_are_refused(http: httpx.Client, model: str) -> None:
    for source in ("/etc/passwd", "file:///etc", "mlflow-artifacts:/0/../../etc", "https://example.com/m"):
        body = _error(http.post(f"{API}/model-versions/create", json={"name": model, "source": source}),
                      400, "INVALID_PARAMETER_VALUE")
        assert body["field"] == "source", body


def test_transition_stage_and_latest_versions_over_http(http: httpx.Client, model: str) -> None:
    r = http.post(f"{API}/model-versions/transition-stage",
                  json={"name": model, "version": "1", "stage": "staging", "archive_existing_versions": False})
    assert r.json()["model_version"]["current_stage"] == "Staging"
    latest = http.post(f"{API}/registered-models/get-latest-versions", json={"name": model, "stages": ["Staging"]})
    assert [v["version"] for v in latest.json()["model_versions"]] == ["1"]
    _error(http.post(f"{API}/model-versions/transition-stage", json={"name": model, "version": "1", "stage": "Gold"}),
           400, "INVALID_PARAMETER_VALUE")


def test_ui_get_artifact_serves_version_files(http: httpx.Client, model: str) -> None:
    r = http.get("/model-versions/get-artifact", params={"name": model, "version": "1", "path": "MLmodel"})
    assert r.status_code == 200 and "flavors" in r.text
    r = http.get("/ajax-api/2.0/mlflow/model-versions/get-artifact",
                 params={"name": model, "version": "1", "path": "../secret"})
    assert r.status_code == 400


def test_delete_parameters_in_the_query_string_are_accepted(http: httpx.Client, model: str) -> None:
    r = http.delete(f"{API}/registered-models/alias", params={"name": model, "alias": "champion"})
    assert r.status_code == 200, r.text
    _error(http.get(f"{API}/registered-models/alias", params={"name": model, "alias": "champion"}),
           400, "INVALID_PARAMETER_VALUE")
