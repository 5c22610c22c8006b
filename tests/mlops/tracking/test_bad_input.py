"""Malformed and hostile requests get a clear 4xx naming the field, and nothing is stored half-way."""

from __future__ import annotations

import httpx
import pytest

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def http(module_server) -> httpx.Client:  # noqa: ANN001
    with httpx.Client(base_url=module_server.url, timeout=60) as c:
        yield c


@pytest.fixture
def run_id(http: httpx.Client) -> str:
    return http.post(f"{API}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]


def _error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code and body["message"]
    return body


@pytest.mark.parametrize("payload", [b"{not json", b"[1,2,3]", b'"text"', b"\xff\xfe\x00garbage"])
def test_malformed_json_is_a_400(http: httpx.Client, payload: bytes) -> None:
    resp = http.post(f"{API}/runs/log-batch", content=payload, headers={"content-type": "application/json"})
    assert _error(resp, 400, "INVALID_PARAMETER_VALUE")["field"] == "body"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "m", "value": "high", "timestamp": 1, "step": 0}, "value"),
        ({"key": "m", "value": 1.0, "timestamp": "soon", "step": 0}, "timestamp"),
        ({"key": "m", "value": 1.0, "timestamp": 1, "step": 1.5}, "step"),
        ({"key": "m", "value": True, "timestamp": 1, "step": 0}, "value"),
        ({"key": 5, "value": 1.0, "timestamp": 1}, "key"),
        ({"key": "m", "timestamp": 1}, "value"),
        ({"key": "m", "value": 1.0, "timestamp": 2**70}, "timestamp"),
    ],
)
def test_wrong_types_in_log_metric(http: httpx.Client, run_id: str, body: dict, field: str) -> None:
    resp = http.post(f"{API}/runs/log-metric", json={"run_id": run_id, **body})
    assert _error(resp, 400, "INVALID_PARAMETER_VALUE")["field"] == field
    history = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m"}).json()
    assert history.get("metrics", []) == []


def test_nan_and_infinity_are_accepted_like_mlflow(http: httpx.Client, run_id: str) -> None:
    for value in ["NaN", "Infinity", "-Infinity"]:
        resp = http.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": f"m{value}", "value": value,
                                                          "timestamp": 1, "step": 0})
        assert resp.status_code == 200, resp.text
    metrics = {m["key"]: m["value"] for m in http.get(f"{API}/runs/get", params={"run_id": run_id})
               .json()["run"]["data"]["metrics"]}
    assert metrics == {"mNaN": "NaN", "mInfinity": "Infinity", "m-Infinity": "-Infinity"}


def test_batch_past_limits_stores_nothing(http: httpx.Client, run_id: str) -> None:
    metrics = [{"key": "m", "value": float(i), "timestamp": 1, "step": i} for i in range(1001)]
    resp = http.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert _error(resp, 400, "INVALID_PARAMETER_VALUE")["field"] == "metrics"
    resp = http.post(f"{API}/runs/log-batch", json={
        "run_id": run_id, "metrics": metrics[:10], "params": [{"key": "p" * 251, "value": "v"}]})
    assert _error(resp, 400, "INVALID_PARAMETER_VALUE")["field"] == "key"
    run = http.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert run["data"]["metrics"] == [] and run["data"]["params"] == []


def test_huge_body_is_refused(http: httpx.Client, run_id: str) -> None:
    blob = b'{"run_id": "' + run_id.encode() + b'", "pad": "' + b"x" * (65 * 1024 * 1024) + b'"}'
    resp = http.post(f"{API}/runs/log-batch", content=blob, headers={"content-type": "application/json"})
    assert _error(resp, 400, "INVALID_PARAMETER_VALUE")["field"] == "body"


def test_unknown_ids_are_404(http: httpx.Client) -> None:
    _error(http.get(f"{API}/runs/get", params={"run_id": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(http.get(f"{API}/experiments/get", params={"experiment_id": "999"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(http.post(f"{API}/runs/log-metric", json={"run_id": "f" * 32, "key": "m", "value": 1, "timestamp": 1}),
           404, "RESOURCE_DOES_NOT_EXIST")
    _error(http.get(f"{API}/logged-models/m-unknown"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert http.get("/api/2.0/mlflow/not-an-endpoint").status_code == 404


def test_missing_required_field_is_named(http: httpx.Client) -> None:
    body = _error(http.post(f"{API}/experiments/create", json={}), 400, "INVALID_PARAMETER_VALUE")
    assert body["field"] == "name"
    body = _error(http.post(f"{API}/runs/log-metric", json={"key": "m", "value": 1}), 400, "INVALID_PARAMETER_VALUE")
    assert body["field"] == "run_id"


@pytest.mark.parametrize(("path", "body"), [
    ("runs/log-parameter", {"key": "p", "value": "1"}),
    ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}),
    ("runs/set-tag", {"key": "t", "value": "1"}),
    ("runs/delete-tag", {"key": "t"}),
    ("runs/log-batch", {"params": [{"key": "b", "value": "2"}]}),
    ("runs/update", {"status": "FINISHED", "end_time": 5}),
    ("runs/log-inputs", {"datasets": []}),
])
def test_writes_to_a_deleted_run_are_invalid_parameter_values_as_in_mlflow(http: httpx.Client, run_id: str,
                                                                          path: str, body: dict) -> None:
    http.post(f"{API}/runs/delete", json={"run_id": run_id}).raise_for_status()
    resp = http.post(f"{API}/{path}", json={"run_id": run_id, **body})
    message = _error(resp, 400, "INVALID_PARAMETER_VALUE")["message"]
    assert message == f"The run {run_id} must be in the 'active' state. Current state is deleted."


def test_writes_to_a_deleted_experiment_are_invalid_parameter_values_as_in_mlflow(http: httpx.Client) -> None:
    exp_id = http.post(f"{API}/experiments/create", json={"name": "doomed"}).json()["experiment_id"]
    http.post(f"{API}/experiments/delete", json={"experiment_id": exp_id}).raise_for_status()
    for path, body in [("runs/create", {}), ("experiments/set-experiment-tag", {"key": "a", "value": "b"}),
                       ("logged-models", {"name": "m"})]:
        resp = http.post(f"{API}/{path}", json={"experiment_id": exp_id, **body})
        message = _error(resp, 400, "INVALID_PARAMETER_VALUE")["message"]
        assert message == f"The experiment {exp_id} must be in the 'active' state. Current state is deleted."


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "experiments/get", {"experiment_id": "churn"}),
    ("GET", "experiments/get", {"experiment_id": "1.5"}),
    ("POST", "runs/create", {"experiment_id": "churn"}),
    ("POST", "runs/search", {"experiment_ids": ["0", "churn"]}),
    ("POST", "experiments/delete", {"experiment_id": "churn"}),
    ("POST", "experiments/set-experiment-tag", {"experiment_id": "churn", "key": "a", "value": "b"}),
    ("POST", "logged-models", {"experiment_id": "churn"}),
    ("POST", "logged-models/search", {"experiment_ids": ["churn"]}),
])
def test_an_experiment_id_that_is_no_integer_is_an_invalid_parameter_as_in_mlflow(
        http: httpx.Client, method: str, path: str, body: dict) -> None:
    # Often an experiment's name passed as its id: MLflow says so; opsloop answered 404 "No Experiment with id=…".
    resp = http.get(f"{API}/{path}", params=body) if method == "GET" else http.post(f"{API}/{path}", json=body)
    error = _error(resp, 400, "INVALID_PARAMETER_VALUE")
    bad = body.get("experiment_id") or body["experiment_ids"][-1]
    assert error["message"] == f"Invalid experiment ID '{bad}'. Experiment ID must be a valid integer."
    assert error["field"] == "experiment_id"


@pytest.mark.parametrize("path", ["..%2F..%2Fetc%2Fpasswd", "a/..%2F..%2Fescape", "%2Fetc%2Fpasswd", "x%00y"])
def test_artifact_path_traversal_is_refused(http: httpx.Client, path: str) -> None:
    resp = http.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}", content=b"pwned")
    assert resp.status_code in (400, 404), resp.text
    resp = http.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "../.."})
    _error(resp, 400, "INVALID_PARAMETER_VALUE")


def test_artifact_round_trip_and_listing(http: httpx.Client) -> None:
    assert http.put("/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/f.txt", content=b"data").status_code == 200
    got = http.get("/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/f.txt")
    assert got.content == b"data"
    assert got.headers["content-security-policy"].startswith("sandbox")  # uploaded files never run scripts
    files = http.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": "0/x/artifacts"}).json()["files"]
    assert files == [{"path": "f.txt", "is_dir": False, "file_size": 4}]
    _error(http.get("/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/missing"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_bad_filter_and_view_type(http: httpx.Client) -> None:
    body = _error(http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "filter": "metrics.a >"}),
                  400, "INVALID_PARAMETER_VALUE")
    assert body["field"] == "filter"
    _error(http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "run_view_type": "SOME"}),
           400, "INVALID_PARAMETER_VALUE")
    _error(http.post(f"{API}/runs/search", json={"experiment_ids": "0"}), 400, "INVALID_PARAMETER_VALUE")
    _error(http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "max_results": "many"}),
           400, "INVALID_PARAMETER_VALUE")
    # the message says what is wrong with the number (0 used to be "must be at most 50000")
    body = _error(http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "max_results": 0}),
                  400, "INVALID_PARAMETER_VALUE")
    assert "positive" in body["message"] and "at most" not in body["message"]
    body = _error(http.post(f"{API}/runs/search", json={"experiment_ids": ["0"], "order_by": ["metrics.a SIDEWAYS"]}),
                  400, "INVALID_PARAMETER_VALUE")
    assert body["field"] == "order_by"
    for clause in ("name SIDEWAYS", "name ASC DESC"):
        body = _error(http.post(f"{API}/experiments/search", json={"max_results": 5, "order_by": [clause]}),
                      400, "INVALID_PARAMETER_VALUE")
        assert body["field"] == "order_by"
    assert http.post(f"{API}/experiments/search", json={"max_results": 5, "order_by": ["name desc"]}).status_code == 200
    # the registry's searches check max_results as the tracking ones do, with the same messages
    for path in ("registered-models/search", "model-versions/search"):
        body = _error(http.get(f"{API}/{path}", params={"max_results": 0}), 400, "INVALID_PARAMETER_VALUE")
        assert "positive" in body["message"] and body["field"] == "max_results"
        body = _error(http.get(f"{API}/{path}", params={"max_results": 10**6}), 400, "INVALID_PARAMETER_VALUE")
        assert "at most" in body["message"]


def test_huge_history_page_sizes_and_offsets(http: httpx.Client, run_id: str) -> None:
    http.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": 0})
    r = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m", "max_results": 2**70})
    assert r.status_code == 200, r.text
    assert [m["value"] for m in r.json()["metrics"]] == [1.0]
    token = "eyJvZmZzZXQiOiAxMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwfQ=="  # {"offset": 10**24}
    r = http.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "m", "max_results": 5,
                                                      "page_token": token})
    assert _error(r, 400, "INVALID_PARAMETER_VALUE")["field"] == "page_token"


@pytest.mark.parametrize(("params", "field"), [
    ({"max_results": 0}, "max_results"),  # was a 500 (division by zero), which the mlflow client retries
    ({"max_results": 2501}, "max_results"),
    ({"run_ids": None}, "run_ids"),
    ({"run_ids": ["r"] * 101}, "run_ids"),
    ({"start_step": 1}, "end_step"),
    ({"start_step": 5, "end_step": 1}, "end_step"),
])
def test_bad_bulk_interval_requests_are_refused_as_mlflow_refuses_them(http: httpx.Client, run_id: str,
                                                                       params: dict, field: str) -> None:
    query = {"run_ids": [run_id], "metric_key": "m", **params}
    resp = http.get(f"{API}/metrics/get-history-bulk-interval", params={k: v for k, v in query.items() if v is not None})
    assert _error(resp, 400, "INVALID_PARAMETER_VALUE")["field"] == field


def test_bulk_interval_skips_runs_that_do_not_exist_as_mlflow_does(http: httpx.Client, run_id: str) -> None:
    http.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 2.0, "timestamp": 1, "step": 3})
    resp = http.get(f"{API}/metrics/get-history-bulk-interval",
                    params={"run_ids": ["0" * 32, run_id], "metric_key": "m", "max_results": 10})
    assert resp.status_code == 200, resp.text
    assert [(m["run_id"], m["step"], m["value"]) for m in resp.json()["metrics"]] == [(run_id, 3, 2.0)]


HUGE = 2**70


@pytest.mark.parametrize(("path", "body"), [
    ("runs/search", {"experiment_ids": ["0"], "filter": f"attributes.start_time > {HUGE}"}),
    ("runs/search", {"experiment_ids": ["0"], "filter": "attributes.end_time < -1e400"}),
    ("experiments/search", {"filter": f"attribute.experiment_id = '{HUGE}'"}),
    ("experiments/search", {"filter": f"attribute.creation_time > {HUGE}"}),
])
def test_numbers_beyond_64_bits_in_filters_match_nothing(http: httpx.Client, path: str, body: dict) -> None:
    r = http.post(f"{API}/{path}", json=body)
    assert r.status_code == 200, r.text
    assert not r.json().get("runs") and not r.json().get("experiments")


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), [
    ("GET", f"experiments/get?experiment_id={HUGE}", None, 404, "experiment_id"),
    ("POST", "experiments/delete", {"experiment_id": str(HUGE)}, 404, "experiment_id"),
    ("POST", "runs/search", {"experiment_ids": [str(HUGE)]}, 404, "experiment_id"),
    ("POST", "experiments/search", {"filter": "attribute.experiment_id = 'abc'"}, 400, "filter"),
    ("POST", "model-versions/search", {"filter": "version_number > 1e400"}, 400, "filter"),
])
def test_ids_beyond_64_bits_are_clear_errors(http: httpx.Client, method: str, path: str, body: dict | None,
                                             status: int, field: str) -> None:
    r = http.request(method, f"{API}/{path}", json=body)
    code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "INVALID_PARAMETER_VALUE"
    assert _error(r, status, code)["field"] == field


@pytest.mark.parametrize("name", ["emoji🚀.txt", "naïve résumé.csv", 'quote".txt', "日本語.json"])
def test_artifacts_with_any_unicode_name_download(http: httpx.Client, name: str) -> None:
    # A name outside latin-1 in Content-Disposition was a 500 (the mlflow client retried it for minutes).
    url = f"/api/2.0/mlflow-artifacts/artifacts/0/u/artifacts/{name}"
    assert http.put(url, content=b"data").status_code == 200
    got = http.get(url)
    assert got.status_code == 200 and got.content == b"data"
    assert "filename*=utf-8''" in got.headers["content-disposition"]
