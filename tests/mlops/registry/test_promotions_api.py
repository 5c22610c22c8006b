"""Audited promotions, validation gates and lineage through opsloop's API and MLflow's alias endpoints."""

from __future__ import annotations

import os

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from tests.mlops.registry.conftest import LoggedSklearn, Server, unique

from opsloop.mlops.registry import REASON_TAG, REQUIRE_VALIDATION_TAG

OPS = "/api/opsloop/v1/models"


@pytest.fixture
def http(registry_server: Server) -> httpx.Client:
    with httpx.Client(base_url=registry_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def two_versions(mlflow_at: str, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> str:
    name = unique("promo")
    for logged in sklearn_models:
        mlflow.register_model(logged.model_uri, name)
    return name


def _history(http: httpx.Client, name: str) -> list[dict]:
    r = http.get(f"{OPS}/{name}/promotions")
    assert r.status_code == 200, r.text
    return r.json()["promotions"]


def test_promote_requiring_validation_is_refused_then_allowed(http: httpx.Client, two_versions: str) -> None:
    name = two_versions
    first = http.post(f"{OPS}/{name}/promote", json={"alias": "champion", "version": "1", "actor": "ana",
                                                     "reason": "baseline"})
    assert first.status_code == 200, first.text
    request = {"alias": "champion", "version": "2", "actor": "ci-bot", "reason": "beats champion",
               "require_validation": True}
    refused = http.post(f"{OPS}/{name}/promote", json=request)
    assert (refused.status_code, refused.json()["error_code"]) == (400, "INVALID_STATE")
    failed = http.post(f"{OPS}/{name}/versions/2/validations",
                       json={"champion_version": "1", "passed": False, "report": {"accuracy": 0.5}})
    assert failed.status_code == 200, failed.text
    refused = http.post(f"{OPS}/{name}/promote", json=request)
    assert (refused.status_code, refused.json()["error_code"]) == (409, "VALIDATION_FAILED")
    passed = http.post(f"{OPS}/{name}/versions/2/validations",
                       json={"champion_version": 1, "passed": True, "report": {"accuracy": 0.99}}).json()
    assert passed["validation"]["report"] == {"accuracy": 0.99} and passed["validation"]["champion_version"] == "1"
    moved = http.post(f"{OPS}/{name}/promote", json=request)
    assert moved.status_code == 200, moved.text
    assert moved.json()["promotion"]["validation_id"] == passed["validation"]["id"]
    history = _history(http, name)
    assert [(p["from_version"], p["to_version"], p["actor"], p["reason"]) for p in history] == [
        (None, "1", "ana", "baseline"), ("1", "2", "ci-bot", "beats champion")]
    listed = http.get(f"{OPS}/{name}/versions/2/validations").json()["validations"]
    assert [v["passed"] for v in listed] == [True, False]


def test_opsloop_endpoints_report_bad_input_and_unknown_models(http: httpx.Client, two_versions: str) -> None:
    r = http.post(f"{OPS}/{two_versions}/promote", json={"alias": "champion", "version": "x"})
    assert (r.status_code, r.json()["field"]) == (400, "version")
    r = http.post(f"{OPS}/{two_versions}/promote", json={"alias": "champion", "version": "1",
                                                         "require_validation": "yes"})
    assert (r.status_code, r.json()["field"]) == (400, "require_validation")
    r = http.post(f"{OPS}/{two_versions}/versions/1/validations", json={"report": {}})
    assert (r.status_code, r.json()["field"]) == (400, "passed")
    r = http.post(f"{OPS}/{unique('ghost')}/promote", json={"alias": "champion", "version": "1"})
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    r = http.get(f"{OPS}/{two_versions}/versions/9/lineage")
    assert r.status_code == 404


def test_mlflow_alias_moves_are_audited_with_actor_and_reason(http: httpx.Client, two_versions: str,
                                                              mlflow_at: str) -> None:
    name = two_versions
    r = http.post("/api/2.0/mlflow/registered-models/alias", json={"name": name, "alias": "champion", "version": "1"},
                  headers={"X-Opsloop-Actor": "ana", "X-Opsloop-Reason": "first deploy"})
    assert r.status_code == 200, r.text
    client = MlflowClient(mlflow_at, mlflow_at)
    client.set_registered_model_tag(name, REASON_TAG, "rollback drill")
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = "bo", "secret"
    try:
        client.set_registered_model_alias(name, "champion", "2")
        client.delete_registered_model_alias(name, "champion")
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
    history = _history(http, name)
    assert [(p["to_version"], p["actor"], p["reason"]) for p in history] == [
        ("1", "ana", "first deploy"), ("2", "bo", "rollback drill"), (None, "bo", "")]
    assert REASON_TAG not in client.get_registered_model(name).tags


def test_policy_tag_makes_plain_mlflow_alias_moves_need_validation(http: httpx.Client, two_versions: str,
                                                                   mlflow_at: str) -> None:
    client = MlflowClient(mlflow_at, mlflow_at)
    client.set_registered_model_tag(two_versions, REQUIRE_VALIDATION_TAG, "*")
    with pytest.raises(MlflowException) as err:
        client.set_registered_model_alias(two_versions, "champion", "1")
    assert err.value.error_code == "INVALID_STATE"
    assert _history(http, two_versions) == []
    http.post(f"{OPS}/{two_versions}/versions/1/validations", json={"passed": True, "report": {}})
    client.set_registered_model_alias(two_versions, "champion", "1")
    assert client.get_model_version_by_alias(two_versions, "champion").version == "1"


def test_lineage_links_the_version_to_its_run_datasets_and_metrics(
        http: httpx.Client, two_versions: str, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    r = http.get(f"{OPS}/{two_versions}/versions/1/lineage")
    assert r.status_code == 200, r.text
    lineage = r.json()
    logged = sklearn_models[0]
    assert lineage["model_version"]["version"] == "1"
    assert lineage["run"]["info"]["run_id"] == logged.run_id
    assert lineage["logged_model"]["info"]["model_id"] == logged.model_id
    assert [(d["name"], d["context"]) for d in lineage["datasets"]] == [("train-set", "training")]
    assert {m["key"] for m in lineage["metrics"]} >= {"accuracy"}


def test_opsloop_alias_delete_is_audited_and_idempotent(http: httpx.Client, two_versions: str,
                                                        mlflow_at: str) -> None:
    name = two_versions
    for alias, version in (("champion", "2"), ("challenger", "1")):
        r = http.post(f"{OPS}/{name}/promote", json={"alias": alias, "version": version, "actor": "ana"})
        assert r.status_code == 200, r.text

    r = http.request("DELETE", f"{OPS}/{name}/aliases/champion", json={"actor": "cy", "reason": "bad canary"})
    assert r.status_code == 200, r.text
    removed = r.json()["promotion"]
    assert (removed["alias"], removed["from_version"], removed["to_version"], removed["actor"],
            removed["reason"]) == ("champion", "2", None, "cy", "bad canary")
    r = http.delete(f"{OPS}/{name}/aliases/challenger", headers={"X-Opsloop-Actor": "dee"})  # no body
    assert (r.status_code, r.json()["promotion"]["actor"]) == (200, "dee")
    r = http.delete(f"{OPS}/{name}/aliases/champion")  # a retried delete: nothing to do, nothing audited
    assert (r.status_code, r.json()) == (200, {"promotion": None})

    client = MlflowClient(mlflow_at, mlflow_at)
    assert client.get_registered_model(name).aliases == {}
    assert [(p["alias"], p["to_version"], p["actor"]) for p in _history(http, name)] == [
        ("champion", "2", "ana"), ("challenger", "1", "ana"), ("champion", None, "cy"), ("challenger", None, "dee")]
    r = http.delete(f"{OPS}/{unique('ghost')}/aliases/champion")
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    r = http.request("DELETE", f"{OPS}/{name}/aliases/champion", json={"actor": 7})
    assert (r.status_code, r.json()["field"]) == (400, "actor")
