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


HUGE = str(2**70)


@pytest.mark.parametrize(("method", "path", "params", "body", "field"), [
    ("GET", f"/api/opsloop/v1/incidents/{HUGE}", None, None, "incident_id"),
    ("POST", f"/api/opsloop/v1/incidents/-{HUGE}/ack", None, {}, "incident_id"),
    ("GET", "/api/opsloop/v1/incidents", {"offset": HUGE}, None, "offset"),
    ("GET", "/api/opsloop/v1/signals", {"incident_id": HUGE}, None, "incident_id"),
    ("GET", "/api/opsloop/v1/metrics/series", {"offset": HUGE}, None, "offset"),
    ("GET", f"/api/opsloop/v1/logs/templates/{HUGE}", None, None, "template_id"),
    ("DELETE", f"/api/opsloop/v1/silences/{HUGE}", None, None, "silence_id"),
    ("GET", f"/api/opsloop/v1/runbooks/runs/{HUGE}", None, None, "run_id"),
    ("POST", "/api/opsloop/v1/incidents/merge", None, {"target_id": 1, "source_ids": [int(HUGE)]}, "source_ids.0"),
    ("POST", "/api/opsloop/v1/notifications/replay", None, {"ids": [int(HUGE)]}, "ids.0"),
])
def test_an_integer_beyond_the_store_is_a_named_bad_value(client: TestClient, method: str, path: str,
                                                          params: dict | None, body: dict | None, field: str) -> None:
    r = client.request(method, path, params=params, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


@pytest.mark.parametrize(("body", "where"), [(b"not json", "character 0"), (b'{"matchers": ["a=b"', "character 19")])
def test_a_body_that_is_no_json_is_named_body(client: TestClient, body: bytes, where: str) -> None:
    r = client.post("/api/opsloop/v1/silences", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    doc = r.json()
    assert doc["field"] == "body" and "not valid JSON" in doc["message"] and where in doc["message"], doc
