"""Every error the server returns has the same JSON shape, FastAPI's own validation errors included."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from opsloop.server.app import create_app
from opsloop.settings import load_settings


@pytest.fixture
def client(tmp_path) -> TestClient:  # noqa: ANN001
    with TestClient(create_app(load_settings({"data_dir": str(tmp_path)}))) as c:
        yield c


@pytest.mark.parametrize(("value", "needle"), [("0", "greater than or equal"), ("abc", "valid integer")])
def test_query_validation_error_names_the_field(client: TestClient, value: str, needle: str) -> None:
    r = client.get("/api/opsloop/v1/incidents", params={"limit": value})
    assert r.status_code == 422
    body = r.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert body["field"] == "limit"
    assert body["message"].startswith("limit: ") and needle in body["message"]
    assert body["errors"] == [{"field": "limit", "message": body["message"].removeprefix("limit: ")}]


def test_unknown_endpoint_is_json(client: TestClient) -> None:
    r = client.get("/api/opsloop/v1/no-such-thing")
    assert r.status_code == 404
    assert r.json()["error_code"] == "ENDPOINT_NOT_FOUND"
