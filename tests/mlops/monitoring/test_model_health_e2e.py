"""A real `opsloop server` watches the service health of the models it scores at /serving: a burst of 5xx
answers (or slow answers) on a served model fires one model_health signal and opens an incident with its
evidence; once the traffic is healthy again the signal resolves and so does the incident. Health
thresholds are set with the model's reference, and bad ones are refused naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from tests.conftest import ServerProcess, wait_until

MON = "/api/opsloop/v1/monitoring"
INCIDENTS = "/api/opsloop/v1/incidents"
OVERFLOW = 1000.0  # an input on which the model answers a number JSON cannot carry: the server fails (5xx)
SLOW = -1000.0  # an input on which the model takes 0.3 s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """No schedule: every health check is asked for (POST /monitoring/health), so nothing depends on time.
    The server's own health window (600 s) is every check's that a reference does not set."""
    env = {"OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "0", "OPSLOOP_MONITORING__HEALTH__WINDOW_S": "600"}
    running = ServerProcess(tmp_path_factory.mktemp("health") / "data", env=env).start()
    yield running
    running.stop()


def _register(url: str, name: str) -> None:
    """A pyfunc model on columns ``a``, ``b`` registered as ``name@champion``: ``a * 2``, except on ``a ==
    OVERFLOW`` (an integer past 64 bits, which the server cannot serialise) and ``a == SLOW`` (0.3 s)."""

    def build() -> mlflow.pyfunc.PythonModel:  # defined here so cloudpickle saves the class by value
        class Flaky(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
                import time as _time

                a = model_input["a"].tolist()
                if OVERFLOW in a:
                    return [2**70 for _ in a]
                if SLOW in a:
                    _time.sleep(0.3)
                return [v * 2 for v in a]

        return Flaky()

    mlflow.set_tracking_uri(url)
    example = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]})
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=build(), input_example=example)
    version = mlflow.register_model(info.model_uri, name).version
    MlflowClient(url).set_registered_model_alias(name, "champion", version)


def _score(http: httpx.Client, name: str, a: float, times: int = 1) -> list[int]:
    return [http.post(f"/serving/{name}/champion/invocations",
                      json={"dataframe_split": {"columns": ["a", "b"], "data": [[a, 0.5]]}}).status_code
            for _ in range(times)]


def _reference(http: httpx.Client, name: str, health: dict) -> httpx.Response:
    rows = [[float(i), 0.5] for i in range(50)]
    return http.post(f"{MON}/models/{name}/reference",
                     json={"dataframe_split": {"columns": ["a", "b"], "data": rows}, "health": health})


def _health(http: httpx.Client, check: str) -> list[dict]:
    r = http.post(f"{MON}/health")
    assert r.status_code == 200, r.text
    return [s for s in r.json()["signals"] if s["labels"]["check"] == check]


def _incidents(http: httpx.Client, service: str) -> list[dict]:
    return http.get(INCIDENTS, params={"service": service}).json()["incidents"]


def test_bad_health_thresholds_are_refused_naming_the_field(server: ServerProcess,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    _register(server.url, "strict")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for health, field in [({"max_error_rate": 2}, "health.max_error_rate"), ({"window_s": 0}, "health.window_s"),
                              ({"window_s": 7200}, "health.window_s"), ({"min_requests": 2.5}, "health.min_requests"),
                              ({"max_latency_p99_s": 0}, "health.max_latency_p99_s"),
                              ({"resolve_ratio": "high"}, "health.resolve_ratio"), ({"p95": 1}, "health.p95")]:
            r = _reference(http, "strict", health)
            assert r.status_code == 400, (health, r.text)
            assert r.json()["field"] == field
        r = _reference(http, "strict", {"max_error_rate": 0.01, "max_latency_p99_s": None})
        assert r.status_code == 200, r.text
        assert r.json()["thresholds"]["health"] == {"window_s": 600.0, "min_requests": 20, "max_error_rate": 0.01,
                                                    "max_latency_p99_s": None, "resolve_ratio": 0.8}


def test_a_burst_of_server_errors_opens_an_incident_that_resolves_when_healthy(
        server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    _register(server.url, "flaky")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert _reference(http, "flaky", {"min_requests": 10, "max_error_rate": 0.2}).status_code == 200
        assert set(_score(http, "flaky", 1.0, 10)) == {200}
        assert _health(http, "error_rate") == []  # healthy: nothing to say
        # a client's mistakes (400: a column missing) are not the model's failures
        bad = http.post("/serving/flaky/champion/invocations", json={"dataframe_split": {"columns": ["b"], "data": [[1]]}})
        assert bad.status_code == 400
        assert set(_score(http, "flaky", OVERFLOW, 10)) == {500}

        [fired] = _health(http, "error_rate")
        assert fired["kind"] == "model_health" and fired["status"] == "firing" and fired["service"] == "flaky"
        assert fired["labels"] == {"model": "flaky", "ref": "champion", "check": "error_rate"}
        evidence = fired["evidence"]
        assert evidence["requests"] == 21 and evidence["server_errors"] == 10
        assert evidence["observed"] == pytest.approx(10 / 21) and evidence["threshold"] == 0.2
        assert evidence["window_s"] == 600.0 and evidence["policy"]["window_s"] == 600.0  # the server's
        assert fired["severity"] == "critical"  # over twice the threshold
        [incident] = wait_until(lambda: _incidents(http, "flaky"))
        assert incident["state"] == "triggered"
        detail = http.get(f"{INCIDENTS}/{incident['id']}").json()
        assert "failed (10 server errors" in str(detail) and "'server_errors': 10" in str(detail)

        # the same episode, judged again: no second firing signal
        assert set(_score(http, "flaky", OVERFLOW, 2)) == {500}
        assert _health(http, "error_rate") == []

        # healthy traffic dilutes the burst below 0.2 * 0.8 within the window: resolved, once
        assert set(_score(http, "flaky", 1.0, 60)) == {200}
        [resolved] = _health(http, "error_rate")
        assert resolved["status"] == "resolved" and resolved["evidence"]["server_errors"] == 12
        assert _health(http, "error_rate") == []
        wait_until(lambda: [i for i in _incidents(http, "flaky") if i["id"] == incident["id"]
                            and i["state"] == "resolved"])
        stored = http.get(f"{MON}/signals", params={"model": "flaky", "kind": "model_health"}).json()["signals"]
        assert [s["status"] for s in stored] == ["resolved", "firing"]


def test_slow_answers_fire_the_p99_latency_check_until_fast_ones_bring_it_back(
        server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    _register(server.url, "sluggish")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert _reference(http, "sluggish", {"min_requests": 10, "max_latency_p99_s": 0.2}).status_code == 200
        assert set(_score(http, "sluggish", 1.0, 10) + _score(http, "sluggish", SLOW, 2)) == {200}
        [fired] = _health(http, "latency_p99")
        assert fired["status"] == "firing" and fired["labels"]["check"] == "latency_p99"
        assert fired["evidence"]["observed"] > 0.2 and fired["evidence"]["requests"] == 12
        wait_until(lambda: _incidents(http, "sluggish"))

        assert set(_score(http, "sluggish", 1.0, 300)) == {200}
        [resolved] = _health(http, "latency_p99")
        assert resolved["status"] == "resolved" and resolved["evidence"]["observed"] <= 0.2 * 0.8
        wait_until(lambda: _incidents(http, "sluggish")[0]["state"] == "resolved")


def test_fast_client_errors_do_not_hide_a_slow_model_from_the_p99_latency_check(
        server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 requests refused with a 400 (a column missing: answered before the model is asked) and 2 slow
    answers of the model: p99 over every answer would be a 400's; over what reached the model it is 0.3 s."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    _register(server.url, "masked")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert _reference(http, "masked", {"min_requests": 2, "max_latency_p99_s": 0.2}).status_code == 200
        bad = {"dataframe_split": {"columns": ["b"], "data": [[1.0]]}}
        assert {http.post("/serving/masked/champion/invocations", json=bad).status_code for _ in range(200)} == {400}
        assert set(_score(http, "masked", SLOW, 2)) == {200}
        [fired] = _health(http, "latency_p99")
        assert fired["status"] == "firing" and fired["evidence"]["observed"] > 0.2
        assert fired["evidence"]["requests"] == 202  # every answer, as the error rate's denominator


def test_the_schedule_judges_health_on_its_own(tmp_path_factory: pytest.TempPathFactory,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With the monitoring schedule on, nobody asks: the 5xx burst opens an incident, healthy traffic
    resolves it (each round reads the counters the scoring app keeps anyway)."""
    env = {"OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "1"}
    scheduled = ServerProcess(tmp_path_factory.mktemp("health-scheduled") / "data", env=env).start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", scheduled.url)
        _register(scheduled.url, "ticked")
        with httpx.Client(base_url=scheduled.url, timeout=60) as http:
            assert _reference(http, "ticked", {"min_requests": 10, "max_error_rate": 0.2}).status_code == 200
            assert set(_score(http, "ticked", OVERFLOW, 10) + _score(http, "ticked", 1.0, 10)) == {500, 200}
            [incident] = wait_until(lambda: _incidents(http, "ticked"))
            assert _score(http, "ticked", 1.0, 60)
            wait_until(lambda: _incidents(http, "ticked")[0]["state"] == "resolved")
            stored = http.get(f"{MON}/signals", params={"model": "ticked", "kind": "model_health"}).json()["signals"]
            assert [(s["labels"]["check"], s["status"]) for s in stored] == [("error_rate", "resolved"),
                                                                            ("error_rate", "firing")]
            assert incident["service"] == "ticked"
    finally:
        scheduled.stop()


def test_with_two_workers_the_schedule_judges_the_requests_of_both(opsloop_server, monkeypatch) -> None:  # noqa: ANN001
    """The worker leading the schedule reads the counters every worker shares: the burst is judged over all
    20 requests (``min_requests`` 20: a leader seeing only its own share would have no verdict)."""
    server = opsloop_server(extra=["--workers", "2"], env={"OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "1"}).aiops_ready()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    _register(server.url, "shared")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert _reference(http, "shared", {"min_requests": 20, "max_error_rate": 0.2}).status_code == 200
    answered = []
    for a in [OVERFLOW] * 10 + [1.0] * 10:  # a new connection each: both workers answer some
        with httpx.Client(base_url=server.url, timeout=60, headers={"connection": "close"}) as one:
            answered += _score(one, "shared", a)
    assert sorted(answered) == [200] * 10 + [500] * 10
    with httpx.Client(base_url=server.url, timeout=60) as http:
        wait_until(lambda: _incidents(http, "shared"))
        [fired] = [s for s in http.get(f"{MON}/signals", params={"model": "shared"}).json()["signals"]
                   if s["kind"] == "model_health"]
        assert fired["status"] == "firing" and fired["evidence"]["requests"] == 20
        assert fired["evidence"]["server_errors"] == 10
