"""HttpTransport against scripted responses (httpx.MockTransport): retries, error mapping, encoding."""

from __future__ import annotations

import httpx
import orjson
import pytest

from opsloop.errors import InvalidInputError, NotFoundError, RateLimitedError, StorageError
from opsloop.sdk import HttpTransport, Retries

_NO_WAIT = Retries(attempts=3, backoff=0.0, max_backoff=0.0)


def _transport(responses: list, seen: list[httpx.Request]) -> HttpTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return HttpTransport("http://tracking.test", retries=_NO_WAIT, http_transport=httpx.MockTransport(handler))


def test_connection_errors_5xx_and_429_are_retried() -> None:
    seen: list[httpx.Request] = []
    transport = _transport([httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(429),
                            httpx.Response(200, json={})], seen)
    transport.log_batch("r1", metrics=[("loss", 1.0, 5, 0)])
    assert len(seen) == 4 and all(r.url.path == "/api/2.0/mlflow/runs/log-batch" for r in seen)


def test_giving_up_names_the_server() -> None:
    transport = _transport([httpx.ConnectError("refused")] * 4, [])
    with pytest.raises(StorageError, match="cannot reach the tracking server at http://tracking.test"):
        transport.get_run("r1")


def test_persistent_429_becomes_rate_limited_error() -> None:
    body = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}
    transport = _transport([httpx.Response(429, json=body)] * 4, [])
    with pytest.raises(RateLimitedError, match="slow down"):
        transport.get_run("r1")


@pytest.mark.parametrize(("status", "code", "error"), [(404, "RESOURCE_DOES_NOT_EXIST", NotFoundError),
                                                       (400, "INVALID_PARAMETER_VALUE", InvalidInputError)])
def test_4xx_is_raised_at_once_with_the_servers_message_and_field(status: int, code: str, error: type) -> None:
    seen: list[httpx.Request] = []
    body = {"error_code": code, "message": "Run with id=r1 not found", "field": "run_id"}
    transport = _transport([httpx.Response(status, json=body)], seen)
    with pytest.raises(error, match="Run with id=r1 not found") as raised:
        transport.get_run("r1")
    assert raised.value.field == "run_id" and len(seen) == 1


def test_a_non_json_error_body_still_gives_a_readable_error() -> None:
    transport = _transport([httpx.Response(418, text="<html>teapot</html>")], [])
    with pytest.raises(Exception, match="HTTP 418"):
        transport.get_run("r1")


def test_log_batch_encodes_non_finite_values_as_mlflow_strings() -> None:
    seen: list[httpx.Request] = []
    transport = _transport([httpx.Response(200, json={})], seen)
    transport.log_batch("r1", metrics=[("a", float("nan"), 1, 0), ("a", float("inf"), 2, 1), ("a", 0.5, 3, 2)],
                        params={"lr": "0.1"})
    body = orjson.loads(seen[0].content)
    assert [m["value"] for m in body["metrics"]] == ["NaN", "Infinity", 0.5]
    assert body["params"] == [{"key": "lr", "value": "0.1"}] and "tags" not in body


# what a server answers to runs/create
RUN_JSON = {"info": {"run_id": "r1", "experiment_id": "0", "run_name": "n", "status": "RUNNING", "start_time": 1,
                     "artifact_uri": "mlflow-artifacts:/0/r1/artifacts", "lifecycle_stage": "active"}, "data": {}}


def test_log_metric_returns_while_the_http_request_is_stuck() -> None:
    import threading

    from opsloop.sdk import Client

    entered, release = threading.Event(), threading.Event()
    batches: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/runs/create"):
            return httpx.Response(200, json={"run": RUN_JSON})
        if request.url.path.endswith("/runs/log-batch"):
            entered.set()
            release.wait(30)
            batches.append(len(orjson.loads(request.content)["metrics"]))
        return httpx.Response(200, json={})

    client = Client(transport=HttpTransport("http://tracking.test", http_transport=httpx.MockTransport(handler)))
    run = client.start_run(capture_git=False, batch_size=1000)
    for i in range(1000):
        run.log_metric("loss", i, step=i)
    assert entered.wait(30)  # the first batch's request is in flight and cannot finish
    for i in range(1000, 3500):
        run.log_metric("loss", i, step=i)  # still returns at once
    release.set()
    run.end()
    assert sum(batches) == 3500 and max(batches) == 1000


@pytest.mark.parametrize("url", ["http://[::1", "http://", "http://host:port"])
def test_a_malformed_url_is_invalid_input_naming_the_url(url: str) -> None:
    from opsloop.sdk import Client

    with pytest.raises(InvalidInputError, match="URL") as raised:
        Client(url)
    assert raised.value.field == "url"


@pytest.mark.parametrize("answer", [httpx.Response(200, text="<html>Welcome to nginx</html>"),
                                    httpx.Response(200, json=["not", "an", "object"]),
                                    httpx.Response(200, json={"unrelated": True}),
                                    httpx.Response(200, json={"run": {"info": "?"}})])
def test_an_answer_that_is_not_mlflows_api_is_a_storage_error_naming_the_server(answer: httpx.Response) -> None:
    transport = _transport([answer], [])
    with pytest.raises(StorageError, match="http://tracking.test .*not MLflow's REST API"):
        transport.get_run("r1")


def test_listing_artifacts_from_a_server_that_is_not_mlflow_is_a_storage_error() -> None:
    transport = _transport([httpx.Response(200, text="<html>index</html>")], [])
    with pytest.raises(StorageError, match="not MLflow's REST API"):
        transport.list_artifacts("mlflow-artifacts:/0/r1/artifacts")


def test_logging_to_a_server_that_is_not_mlflow_is_a_storage_error() -> None:
    transport = _transport([httpx.Response(200, text="<html>index</html>")], [])
    with pytest.raises(StorageError, match="that is not JSON"):
        transport.log_batch("r1", metrics=[("loss", 1.0, 5, 0)])


def test_a_persistent_5xx_is_a_storage_error_the_metric_sender_waits_out() -> None:
    transport = _transport([httpx.Response(502, text="<html>Bad Gateway</html>")] * 4, [])
    with pytest.raises(StorageError, match="HTTP 502"):
        transport.log_batch("r1", metrics=[("loss", 1.0, 5, 0)])


def test_a_run_is_created_with_its_start_time_as_mlflows_server_needs() -> None:
    """MLflow's server stores the start_time the request carries, 0 (1970) when it carries none."""
    import time

    from opsloop.sdk import Client

    created: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/runs/create"):
            created.append(orjson.loads(request.content))
            return httpx.Response(200, json={"run": RUN_JSON})
        return httpx.Response(200, json={})

    before = int(time.time() * 1000)
    client = Client(transport=HttpTransport("http://tracking.test", http_transport=httpx.MockTransport(handler)))
    client.start_run(capture_git=False).end()
    assert before <= int(created[0]["start_time"]) <= int(time.time() * 1000)


def test_a_download_cut_off_midway_leaves_no_partial_file(tmp_path) -> None:  # noqa: ANN001
    class CutOff(httpx.SyncByteStream):
        def __iter__(self):  # noqa: ANN204
            yield b"first half"
            raise httpx.ReadError("connection reset")

    transport = _transport([httpx.Response(200, stream=CutOff())], [])
    with pytest.raises(StorageError, match="model.pkl.*connection reset"):
        transport.download_artifact("mlflow-artifacts:/0/r1/artifacts", "model.pkl", tmp_path / "model.pkl")
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_is_an_error_naming_where_it_points_not_a_silent_success() -> None:
    """http:// sent on to https:// by a proxy: following would turn the POST into a GET; a log-batch answered
    with a redirect was taken as logged."""
    moved = httpx.Response(301, headers={"location": "https://tracking.test/api/2.0/mlflow/runs/log-batch"})
    transport = _transport([moved], [])
    with pytest.raises(InvalidInputError, match="HTTP 301.*https://tracking.test") as raised:
        transport.log_batch("r1", metrics=[("loss", 1.0, 5, 0)])
    assert raised.value.field == "url"  # the URL is wrong: not an outage the metric sender waits out


@pytest.mark.parametrize(("env", "expected"), [
    ({"MLFLOW_TRACKING_TOKEN": "tok"}, "Bearer tok"),
    ({"MLFLOW_TRACKING_USERNAME": "ada", "MLFLOW_TRACKING_PASSWORD": "s3cret"}, httpx.BasicAuth("ada", "s3cret")),
    ({}, None),
])
def test_the_mlflow_clients_credentials_are_sent(env: dict, expected: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server behind authentication refused the SDK (401) where the mlflow client, given the same
    environment, was let in."""
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen: list[httpx.Request] = []
    _transport([httpx.Response(200, json={})], seen).log_batch("r1", params={"lr": "0.1"})
    if isinstance(expected, httpx.BasicAuth):
        expected = next(expected.auth_flow(httpx.Request("GET", "http://x"))).headers["Authorization"]
    assert seen[0].headers.get("Authorization") == expected


def test_an_authorization_header_given_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ada")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    HttpTransport("http://tracking.test", headers={"Authorization": "Bearer mine"},
                  http_transport=httpx.MockTransport(handler)).log_batch("r1", params={"lr": "0.1"})
    assert seen[0].headers["Authorization"] == "Bearer mine"
