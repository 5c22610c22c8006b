"""A validation made when the alias pointed nowhere compared the candidate with no champion: it lets the
candidate become the first holder of the alias, not replace one set meanwhile. Two candidates validated
before either was promoted (two retrains, two engineers) each passed against nothing; the second then
replaced the first without ever being compared with it."""

from __future__ import annotations

from typing import Any

import httpx
import mlflow
import pytest
from tests.mlops.registry.conftest import LoggedSklearn, Server, unique

from opsloop.mlops.validation.report import ValidationReport

OPS = "/api/opsloop/v1/models"


@pytest.fixture
def http(registry_server: Server) -> httpx.Client:
    with httpx.Client(base_url=registry_server.url, timeout=30) as client:
        yield client


def _validate(http: httpx.Client, name: str, version: str, champion: str | None) -> int:
    """Store what ``opsloop models validate`` stores for a passed gate of ``version`` against ``champion``."""
    report = ValidationReport(model=name, candidate=version, champion=f"{champion} (@champion)" if champion else None,
                              task="classification", rows=6, time=0.0)
    r = http.post(f"{OPS}/{name}/versions/{version}/validations",
                  json={"passed": True, "report": report.to_dict(), "champion_version": champion})
    assert r.status_code == 200, r.text
    return int(r.json()["validation"]["id"])


def _promote(http: httpx.Client, name: str, version: str) -> httpx.Response:
    return http.post(f"{OPS}/{name}/promote", json={"alias": "champion", "version": version, "actor": "ci",
                                                    "reason": "passed", "require_validation": True})


def _champion(http: httpx.Client, name: str) -> str:
    r = http.get("/api/2.0/mlflow/registered-models/alias", params={"name": name, "alias": "champion"})
    return str(r.json()["model_version"]["version"])


def test_a_candidate_validated_with_no_champion_does_not_replace_one_promoted_meanwhile(
        http: httpx.Client, mlflow_at: str, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    name = unique("race")
    for logged in sklearn_models:
        mlflow.register_model(logged.model_uri, name)
    _validate(http, name, "1", None)
    late = _validate(http, name, "2", None)
    assert _promote(http, name, "1").status_code == 200  # the first one in becomes champion

    refused = _promote(http, name, "2")
    assert refused.status_code == 400, refused.text
    body: dict[str, Any] = refused.json()
    assert body["error_code"] == "INVALID_STATE" and body["field"] == "version", body
    assert f"Validation #{late} compared version 2 with no champion" in body["message"], body
    assert f"{name}@champion now points to version 1; validate again" in body["message"], body
    assert _champion(http, name) == "1"

    _validate(http, name, "2", "1")  # compared with the champion now in place: it may replace it
    assert _promote(http, name, "2").status_code == 200
    assert _champion(http, name) == "2"


def test_a_validation_posted_without_a_report_of_its_champion_still_allows_the_move(
        http: httpx.Client, mlflow_at: str, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> None:
    name = unique("posted")
    for logged in sklearn_models:
        mlflow.register_model(logged.model_uri, name)
    assert http.post(f"{OPS}/{name}/promote", json={"alias": "champion", "version": "1"}).status_code == 200
    r = http.post(f"{OPS}/{name}/versions/2/validations", json={"passed": True, "report": {"accuracy": 0.99}})
    assert r.status_code == 200, r.text
    assert _promote(http, name, "2").status_code == 200  # what it compared with is not known: as before
    assert _champion(http, name) == "2"
