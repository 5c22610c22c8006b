"""The trace endpoints on the wire: proto3 JSON shapes, and clear 4xx errors naming the field."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest

V3 = "/api/3.0/mlflow/traces"
V2 = "/api/2.0/mlflow/traces"


@pytest.fixture(scope="module")
def http(module_server) -> httpx.Client:  # noqa: ANN001
    with httpx.Client(base_url=module_server.url, timeout=60) as c:
        yield c


@pytest.fixture
def experiment_id(http: httpx.Client) -> str:
    resp = http.post("/api/2.0/mlflow/experiments/create", json={"name": f"traces-{uuid.uuid4().hex}"})
    return resp.json()["experiment_id"]


def _info(experiment_id: str, **overrides: object) -> dict:
    info = {
        "trace_id": f"tr-{uuid.uuid4().hex}",
        "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}},
        "request_time": "2026-11-24T10:00:00.250Z",
        "execution_duration": "1.5s",
        "state": "OK",
        "request_preview": '{"q": "hi"}',
        "response_preview": '"hello"',
        "client_request_id": "req-1",
        "trace_metadata": {"mlflow.trace_schema.version": "3"},
        "tags": {"mlflow.traceName": "chat"},
    }
    info.update(overrides)
    return info


def _start(http: httpx.Client, info: dict) -> httpx.Response:
    return http.post(V3, json={"trace": {"trace_info": info}})


def _error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code and body["message"]
    return body


def test_start_trace_round_trips_proto_json(http: httpx.Client, experiment_id: str) -> None:
    info = _info(experiment_id)
    info["tags"] = {**info["tags"], "mlflow.artifactLocation": "mlflow-artifacts:/0",
                    "mlflow.trace.spansLocation": "TRACKING_STORE"}
    resp = _start(http, info)
    assert resp.status_code == 200, resp.text
    stored = resp.json()["trace"]["trace_info"]
    assert stored["request_time"] == "2026-11-24T10:00:00.250Z" and stored["execution_duration"] == "1.500s"
    assert stored["tags"]["mlflow.artifactLocation"] == \
        f"mlflow-artifacts:/{experiment_id}/traces/{info['trace_id']}/artifacts"
    assert "mlflow.trace.spansLocation" not in stored["tags"]  # spans are always the traces.json artifact
    assert stored["trace_location"] == info["trace_location"]
    for key in ("state", "request_preview", "response_preview", "client_request_id", "trace_metadata"):
        assert stored[key] == info[key]
    got = http.get(f"{V3}/{info['trace_id']}").json()["trace"]["trace_info"]
    assert got == stored
    # Recording the same trace again (a client retry) updates it rather than failing.
    again = _start(http, {**info, "state": "ERROR", "tags": {"extra": "1"}}).json()["trace"]["trace_info"]
    assert again["state"] == "ERROR" and again["tags"]["extra"] == "1" and again["tags"]["mlflow.traceName"] == "chat"


def test_timestamps_with_offsets_and_nanos_are_understood(http: httpx.Client, experiment_id: str) -> None:
    info = _info(experiment_id, request_time="2026-11-24T12:00:00.123456789+02:00", execution_duration="0.000900s")
    stored = _start(http, info).json()["trace"]["trace_info"]
    assert stored["request_time"] == "2026-11-24T10:00:00.123Z" and stored["execution_duration"] == "0.000s"
    minimal = {k: v for k, v in _info(experiment_id).items() if k in ("trace_id", "trace_location", "request_time")}
    stored = _start(http, minimal).json()["trace"]["trace_info"]
    assert stored["state"] == "STATE_UNSPECIFIED" and "execution_duration" not in stored


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe garbage"])
def test_malformed_json_is_a_400(http: httpx.Client, payload: bytes) -> None:
    for path in (V3, f"{V3}/search", f"{V2}/delete-traces"):
        resp = http.post(path, content=payload, headers={"content-type": "application/json"})
        assert _error(resp, 400, "INVALID_PARAMETER_VALUE")["field"] == "body"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"trace_id": 7}, "trace.trace_info.trace_id"),
        ({"trace_id": ""}, "trace.trace_info.trace_id"),
        ({"trace_id": "../../0"}, "trace_id"),
        ({"trace_id": ".."}, "trace_id"),
        ({"trace_id": "t" * 129}, "trace_id"),
        ({"request_time": 1732442400000}, "trace.trace_info.request_time"),
        ({"request_time": "yesterday"}, "trace.trace_info.request_time"),
        ({"request_time": "2026-02-30T00:00:00Z"}, "trace.trace_info.request_time"),
        ({"request_time": None}, "trace.trace_info.request_time"),
        ({"execution_duration": "fast"}, "trace.trace_info.execution_duration"),
        ({"execution_duration": 1.5}, "trace.trace_info.execution_duration"),
        ({"execution_duration": "1" * 30 + "s"}, "trace.trace_info.execution_duration"),
        ({"state": "DONE"}, "trace.trace_info.state"),
        ({"state": True}, "trace.trace_info.state"),
        ({"tags": {"a": 1}}, "trace.trace_info.tags"),
        ({"tags": ["a"]}, "trace.trace_info.tags[0]"),
        ({"trace_metadata": "k=v"}, "trace.trace_info.trace_metadata"),
        ({"request_preview": {"q": 1}}, "trace.trace_info.request_preview"),
        ({"trace_location": {"type": "INFERENCE_TABLE", "inference_table": {"full_table_name": "a.b.c"}}},
         "trace.trace_info.trace_location"),
        ({"trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {}}},
         "trace.trace_info.trace_location.mlflow_experiment.experiment_id"),
        ({"trace_location": "0"}, "trace.trace_info.trace_location"),
    ],
)
def test_wrong_types_in_start_trace(http: httpx.Client, experiment_id: str, overrides: dict, field: str) -> None:
    info = _info(experiment_id, **overrides)
    assert _error(_start(http, info), 400, "INVALID_PARAMETER_VALUE")["field"] == field
    if isinstance(info["trace_id"], str) and re.fullmatch(r"[\w-]+", info["trace_id"]):
        _error(http.get(f"{V3}/{info['trace_id']}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_start_trace_needs_a_trace_and_a_live_experiment(http: httpx.Client, experiment_id: str) -> None:
    assert _error(http.post(V3, json={}), 400, "INVALID_PARAMETER_VALUE")["field"] == "trace"
    assert _error(http.post(V3, json={"trace": {}}), 400, "INVALID_PARAMETER_VALUE")["field"] == "trace.trace_info"
    assert _error(_start(http, _info("987654")), 404, "RESOURCE_DOES_NOT_EXIST")["field"] == "experiment_id"
    assert _error(_start(http, _info("not-a-number")), 400, "INVALID_PARAMETER_VALUE")["field"] == "experiment_id"
    http.post("/api/2.0/mlflow/experiments/delete", json={"experiment_id": experiment_id})
    body = _error(_start(http, _info(experiment_id)), 400, "INVALID_PARAMETER_VALUE")  # as MLflow answers
    assert "must be in the 'active' state" in body["message"]


def test_unknown_trace_is_a_404(http: httpx.Client) -> None:
    body = _error(http.get(f"{V3}/tr-nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "tr-nope" in body["message"]
    _error(http.patch(f"{V2}/tr-nope/tags", json={"key": "a", "value": "b"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(http.request("DELETE", f"{V2}/tr-nope/tags", json={"key": "a"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_tag_requests_name_the_bad_field(http: httpx.Client, experiment_id: str) -> None:
    trace_id = _start(http, _info(experiment_id)).json()["trace"]["trace_info"]["trace_id"]
    assert _error(http.patch(f"{V2}/{trace_id}/tags", json={"value": "b"}), 400, "INVALID_PARAMETER_VALUE")["field"] == "key"
    assert _error(http.patch(f"{V2}/{trace_id}/tags", json={"key": "a", "value": 5}), 400,
                  "INVALID_PARAMETER_VALUE")["field"] == "value"
    assert _error(http.patch(f"{V2}/{trace_id}/tags", json={"key": "", "value": "x"}), 400,
                  "INVALID_PARAMETER_VALUE")["field"] == "key"
    for key in ("mlflow.artifactLocation", "mlflow.trace.spansLocation"):
        assert _error(http.patch(f"{V2}/{trace_id}/tags", json={"key": key, "value": "mlflow-artifacts:/0"}), 400,
                      "INVALID_PARAMETER_VALUE")["field"] == "key"
        assert _error(http.request("DELETE", f"{V2}/{trace_id}/tags", json={"key": key}), 400,
                      "INVALID_PARAMETER_VALUE")["field"] == "key"
    long_key = "k" * 300
    assert http.patch(f"{V2}/{trace_id}/tags", json={"key": long_key, "value": "v" * 9000}).status_code == 200
    tags = http.get(f"{V3}/{trace_id}").json()["trace"]["trace_info"]["tags"]
    assert tags["k" * 250] == "v" * 8000  # truncated to MLflow's limits, as its client documents
    resp = http.request("DELETE", f"{V2}/{trace_id}/tags", params={"key": "k" * 250})
    assert resp.status_code == 200 and "k" * 250 not in http.get(f"{V3}/{trace_id}").json()["trace"]["trace_info"]["tags"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"locations": []}, "locations"),
        ({"locations": "0"}, "locations"),
        ({"locations": [{"type": "MLFLOW_EXPERIMENT"}]}, "locations[0]"),
        ({"experiment_ids": [0]}, "experiment_ids"),
        ({"experiment_ids": ["0"], "max_results": "many"}, "max_results"),
        ({"experiment_ids": ["0"], "max_results": 0}, "max_results"),
        ({"experiment_ids": ["0"], "max_results": 10**9}, "max_results"),
        ({"experiment_ids": ["0"], "filter": 5}, "filter"),
        ({"experiment_ids": ["0"], "filter": "tags.a = 'x' OR tags.b = 'y'"}, "filter"),
        ({"experiment_ids": ["0"], "filter": "timestamp_ms > 'yesterday'"}, "filter"),
        ({"experiment_ids": ["0"], "filter": "tags.a > 5"}, "filter"),
        ({"experiment_ids": ["0"], "filter": "span.name = 'x'"}, "filter"),
        ({"experiment_ids": ["0"], "filter": "colour = 'red'"}, "filter"),
        ({"experiment_ids": ["0"], "filter": "tags.a = "}, "filter"),
        ({"experiment_ids": ["0"], "order_by": ["colour"]}, "order_by"),
        ({"experiment_ids": ["0"], "order_by": [5]}, "order_by"),
        ({"experiment_ids": ["0"], "order_by": "timestamp_ms"}, "order_by"),
        ({"experiment_ids": ["0"], "page_token": "not-a-token"}, "page_token"),
        ({"experiment_ids": ["0"], "page_token": "eyJvZmZzZXQiOiAxMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwfQ=="}, "page_token"),
        ({"experiment_ids": ["0"], "filter": "timestamp_ms > 1e30"}, "filter"),
        ({"experiment_ids": ["x"]}, "experiment_ids"),
    ],
)
def test_bad_search_requests_name_the_field(http: httpx.Client, body: dict, field: str) -> None:
    assert _error(http.post(f"{V3}/search", json=body), 400, "INVALID_PARAMETER_VALUE")["field"] == field


def test_search_orders_filters_and_pages_on_the_wire(http: httpx.Client, experiment_id: str) -> None:
    ids = []
    for i in range(5):
        info = _info(experiment_id, request_time=f"2026-11-24T10:00:0{i}Z", execution_duration=f"{i}s",
                     state="ERROR" if i == 2 else "OK", tags={"i": str(i), "mlflow.traceName": f"n{i % 2}"},
                     trace_metadata={"mlflow.sourceRun": "run-a" if i < 2 else "run-b"})
        ids.append(_start(http, info).json()["trace"]["trace_info"]["trace_id"])
    loc = [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}]

    def search(**body: object) -> list[str]:
        resp = http.post(f"{V3}/search", json={"locations": loc, **body})
        assert resp.status_code == 200, resp.text
        return [t["trace_id"] for t in resp.json().get("traces", [])]

    assert search() == ids[::-1]
    assert search(filter="status = 'ERROR'") == [ids[2]]
    assert search(filter="attributes.status IN ('ERROR', 'IN_PROGRESS')") == [ids[2]]
    assert search(filter="execution_time_ms >= 3000") == [ids[4], ids[3]]
    ten = int(datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp() * 1000)
    assert search(filter=f"end_time_ms <= {ten + 2000}", order_by=["end_time ASC"]) == ids[:2]  # 10:00:01 + 1s
    assert search(filter=f"timestamp_ms > {ten + 3000}") == [ids[4]]
    assert search(filter="name = 'n1'", order_by=["timestamp ASC"]) == [ids[1], ids[3]]
    assert search(filter="run_id = 'run-a'") == [ids[1], ids[0]]
    assert search(filter="metadata.`mlflow.sourceRun` LIKE 'run-%' AND tags.i IS NOT NULL") == ids[::-1]
    assert search(filter=f"tags.missing IS NULL AND request_id = '{ids[3]}'") == [ids[3]]
    assert search(order_by=["execution_time_ms DESC"]) == ids[::-1]
    assert search(order_by=["status ASC", "timestamp_ms ASC"]) == [ids[2], ids[0], ids[1], ids[3], ids[4]]
    assert search(order_by=["request_metadata.`mlflow.sourceRun` DESC", "timestamp_ms"])[:3] == ids[2:]

    first = http.post(f"{V3}/search", json={"locations": loc, "max_results": 3}).json()
    assert [t["trace_id"] for t in first["traces"]] == ids[:1:-1] and first["next_page_token"]
    rest = http.post(f"{V3}/search", json={"locations": loc, "max_results": 3,
                                           "page_token": first["next_page_token"]}).json()
    assert [t["trace_id"] for t in rest["traces"]] == [ids[1], ids[0]] and "next_page_token" not in rest

    batch = http.post(f"{V3}/batchGetInfos", json={"trace_ids": [ids[0], "tr-nope", ids[1]]}).json()
    assert [t["trace_id"] for t in batch["trace_infos"]] == [ids[0], ids[1]]
    scoped = http.post(f"{V3}/batchGetInfos", json={"trace_ids": [ids[0]], "experiment_ids": ["0"]}).json()
    assert scoped == {"trace_infos": []}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"max_timestamp_millis": 1}, 400, "experiment_id"),
        ({"experiment_id": "{exp}"}, 400, "request_ids"),
        ({"experiment_id": "{exp}", "max_timestamp_millis": 1, "request_ids": ["tr-a"]}, 400, "max_timestamp_millis"),
        ({"experiment_id": "{exp}", "max_timestamp_millis": "soon"}, 400, "max_timestamp_millis"),
        ({"experiment_id": "{exp}", "max_timestamp_millis": 1, "max_traces": 0}, 400, "max_traces"),
        ({"experiment_id": "{exp}", "max_timestamp_millis": 2**70}, 400, "max_timestamp_millis"),
        ({"experiment_id": "{exp}", "max_timestamp_millis": 1, "max_traces": 2**70}, 400, "max_traces"),
        ({"experiment_id": "{exp}", "request_ids": ["tr-a"], "max_traces": 1}, 400, "max_traces"),
        ({"experiment_id": "{exp}", "request_ids": [1, 2]}, 400, "request_ids"),
        ({"experiment_id": 5, "request_ids": ["tr-a"]}, 400, "experiment_id"),
        ({"experiment_id": "424242", "request_ids": ["tr-a"]}, 404, "experiment_id"),
    ],
)
def test_bad_delete_requests(http: httpx.Client, experiment_id: str, body: dict, status: int, field: str) -> None:
    body = {k: (v.replace("{exp}", experiment_id) if isinstance(v, str) else v) for k, v in body.items()}
    code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "INVALID_PARAMETER_VALUE"
    assert _error(http.post(f"{V2}/delete-traces", json=body), status, code)["field"] == field


def test_delete_traces_drops_the_span_artifacts(http: httpx.Client, experiment_id: str) -> None:
    trace_id = _start(http, _info(experiment_id)).json()["trace"]["trace_info"]["trace_id"]
    path = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/traces/{trace_id}/artifacts/traces.json"
    assert http.put(path, content=b'{"spans": []}').status_code == 200
    other = _start(http, _info(experiment_id)).json()["trace"]["trace_info"]["trace_id"]  # nothing uploaded
    resp = http.post(f"{V2}/delete-traces", json={"experiment_id": experiment_id, "request_ids": [trace_id, other]})
    assert resp.json() == {"traces_deleted": 2}
    assert http.get(path).status_code == 404
    _error(http.get(f"{V3}/{trace_id}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_span_data_is_served_for_user_interfaces(http: httpx.Client, experiment_id: str) -> None:
    trace_id = _start(http, _info(experiment_id)).json()["trace"]["trace_info"]["trace_id"]
    base = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/traces/{trace_id}/artifacts"
    http.put(f"{base}/traces.json", content=b'{"spans": []}')
    http.put(f"{base}/attachments/img-1", content=b"png")
    for prefix in ("/ajax-api/2.0/mlflow", "/ajax-api/3.0/mlflow"):
        resp = http.get(f"{prefix}/get-trace-artifact", params={"request_id": trace_id})
        assert resp.status_code == 200 and resp.json() == {"spans": []}
    assert http.get("/ajax-api/2.0/mlflow/get-trace-artifact",
                    params={"request_id": trace_id, "path": "img-1"}).content == b"png"
    url = "/ajax-api/2.0/mlflow/get-trace-artifact"
    assert _error(http.get(url), 400, "INVALID_PARAMETER_VALUE")["field"] == "request_id"
    _error(http.get(url, params={"request_id": "tr-nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(http.get(url, params={"request_id": trace_id, "path": "../../../x"}), 400, "INVALID_PARAMETER_VALUE")
    other = _start(http, _info(experiment_id)).json()["trace"]["trace_info"]["trace_id"]
    _error(http.get(url, params={"request_id": other}), 404, "RESOURCE_DOES_NOT_EXIST")  # nothing uploaded


def test_otlp_span_export_is_declined_so_clients_upload_artifacts(http: httpx.Client) -> None:
    # the mlflow client names the experiment on its OTLP exports; other senders' spans feed AIOps
    resp = http.post("/v1/traces", content=b"\x0a\x00", headers={"content-type": "application/x-protobuf",
                                                                   "x-mlflow-experiment-id": "0"})
    body = _error(resp, 501, "NOT_IMPLEMENTED")
    assert "REST OTLP span logging is not supported" in body["message"]
