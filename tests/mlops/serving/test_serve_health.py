"""A dedicated `opsloop serve` process with a monitoring store judges its model's service health on its
--drift-interval schedule: a burst of 5xx answers fires one model_health signal, healthy traffic resolves it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
from tests.conftest import wait_until

OVERFLOW = 1000.0  # the model answers a number JSON cannot carry: the server fails (500)


def _save_flaky_model(path: Path) -> None:
    import mlflow.pyfunc

    def build() -> mlflow.pyfunc.PythonModel:  # defined here so cloudpickle saves the class by value
        class Flaky(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
                a = model_input["a"].tolist()
                return [2**70 for _ in a] if OVERFLOW in a else [v * 2 for v in a]

        return Flaky()

    mlflow.pyfunc.save_model(str(path), python_model=build(),
                             input_example=pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]}))


def _health_signals(url: str) -> list[dict]:
    return httpx.get(f"{url}/monitoring/signals", params={"kind": "model_health"}).json()["signals"]


def test_a_served_models_5xx_burst_fires_and_resolves_a_health_signal(
        tmp_path: Path, serve_process: Callable[..., tuple[str, object]]) -> None:
    _save_flaky_model(tmp_path / "flaky")
    url, _ = serve_process(str(tmp_path / "flaky"), "--monitor-store", f"sqlite:///{tmp_path / 'mon.db'}",
                           "--model-name", "flaky", "--drift-interval", "0.5", "--workers", "1",
                           "--health-min-requests", "10", "--max-error-rate", "0.5", "--max-latency-p99", "off")

    def score(a: float, times: int) -> set[int]:
        return {httpx.post(f"{url}/invocations", json={"dataframe_split": {"columns": ["a", "b"],
                                                                             "data": [[a, 0.5]]}}).status_code
                for _ in range(times)}

    assert score(OVERFLOW, 10) == {500}  # --health-min-requests 10: judged once the 10 are counted
    [fired] = wait_until(lambda: _health_signals(url))
    assert fired["status"] == "firing" and fired["service"] == "flaky"
    assert fired["labels"] == {"model": "flaky", "ref": "local", "check": "error_rate"}
    assert fired["evidence"]["server_errors"] == fired["evidence"]["requests"] >= 10
    assert fired["evidence"]["policy"] == {"window_s": 300.0, "min_requests": 10, "max_error_rate": 0.5,
                                           "max_latency_p99_s": None, "resolve_ratio": 0.8}
    assert score(1.0, 20) == {200}  # 10 of 30 is 33 %: at most 0.8 * 50 %
    wait_until(lambda: [s for s in _health_signals(url) if s["status"] == "resolved"])
    assert [s["status"] for s in _health_signals(url)] == ["resolved", "firing"]


def test_bad_health_flags_are_refused_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from opsloop.cli.serving import serve

    store = ["--monitor-store", f"sqlite:///{tmp_path / 'mon.db'}"]
    for flags, said in [(["--max-error-rate", "2", *store], "'--max-error-rate': 2 is not in the range 0<=x<=1"),
                        (["--max-latency-p99", "0", *store], "'--max-latency-p99': 0 is not in the range 0<x<=5"),
                        (["--max-latency-p99", "fast", *store], "'fast' is not a number (or 'off')"),
                        (["--health-window", "7200", *store], "'--health-window'"),
                        (["--health-min-requests", "0", *store], "'--health-min-requests'"),
                        (["--health-resolve-ratio", "0", *store], "'--health-resolve-ratio'"),
                        (["--max-error-rate", "0.1"], "give --monitor-store too")]:
        result = CliRunner().invoke(serve, [str(tmp_path / "no-model"), *flags])
        assert result.exit_code != 0 and said in result.output, (flags, result.output)
        assert "Traceback" not in result.output


CRASH = 13.0  # the model raises on this value: MLflow's 400 "the model rejected the input"


def _save_crashing_model(path: Path) -> None:
    import mlflow.pyfunc

    def build() -> mlflow.pyfunc.PythonModel:
        class Crashing(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
                if CRASH in model_input["a"].tolist():
                    raise RuntimeError("feature store connection lost")
                return model_input["a"] * 2

        return Crashing()

    mlflow.pyfunc.save_model(str(path), python_model=build(),
                             input_example=pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0]}))


def test_a_model_raising_on_every_request_turns_unhealthy_and_bad_input_does_not(
        tmp_path: Path, serve_process: Callable[..., tuple[str, object]]) -> None:
    """A model that raises is answered 400, as MLflow's scoring server answers it, so the 5xx error rate never
    saw a crashing model: its errors are counted apart (kind model_error) and the error_rate check counts them;
    bad input refused before the model is called (a missing column) still does not."""
    _save_crashing_model(tmp_path / "crashing")
    url, _ = serve_process(str(tmp_path / "crashing"), "--monitor-store", f"sqlite:///{tmp_path / 'mon.db'}",
                           "--model-name", "crashing", "--drift-interval", "0.3", "--workers", "1",
                           "--health-min-requests", "10", "--max-error-rate", "0.45", "--max-latency-p99", "off")

    def score(rows: dict, times: int) -> list[httpx.Response]:
        return [httpx.post(f"{url}/invocations", json={"dataframe_split": rows}) for _ in range(times)]

    def errors_of(kind: str) -> list[str]:
        return [line.rsplit(" ", 1)[1] for line in httpx.get(f"{url}/metrics").text.splitlines()
                if line.startswith("opsloop_serving_errors_total") and f'kind="{kind}"' in line]

    bad = score({"columns": ["b"], "data": [[0.5]]}, 15)  # no column a: refused before the model is called
    assert {r.status_code for r in bad} == {400} and bad[0].json()["field"] == "a"
    crashed = score({"columns": ["a", "b"], "data": [[CRASH, 0.5]]}, 15)
    assert {r.status_code for r in crashed} == {400}  # MLflow's answer, kept
    assert crashed[0].json()["message"].startswith("the model rejected the input: feature store connection lost")
    assert errors_of("bad_request") == ["15"] and errors_of("model_error") == ["15"]
    [fired] = wait_until(lambda: _health_signals(url))
    assert fired["status"] == "firing" and fired["labels"]["check"] == "error_rate"
    evidence = fired["evidence"]
    # had the bad input counted, the check would have fired on it alone (15 of 15, or at 10 of 10): only once
    # 13 model errors came (13 of 28 is over 45 %) does it fire
    assert evidence["server_errors"] == 0 and evidence["model_errors"] == evidence["requests"] - 15 >= 13
    assert f"{evidence['model_errors']} raised by the model" in fired["text"]


def test_the_health_flags_defaults_are_health_policys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The help's defaults were written out a second time beside HealthPolicy's (which the flags left out
    take): they are read from HealthPolicy, so the two cannot disagree."""
    import dataclasses

    from click.testing import CliRunner

    from opsloop.cli.serving import serve
    from opsloop.mlops.monitoring import health

    changed = dataclasses.make_dataclass("HealthPolicy", [("window_s", float, 123.0), ("min_requests", int, 7),
                                                          ("max_error_rate", float, 0.02),
                                                          ("max_latency_p99_s", object, None),
                                                          ("resolve_ratio", float, 0.5)])
    monkeypatch.setattr(health, "HealthPolicy", changed)
    text = " ".join(CliRunner().invoke(serve, ["--help"], terminal_width=400).output.split())
    flags = [("--health-window", "123"), ("--health-min-requests", "7"), ("--max-error-rate", "0.02"),
             ("--max-latency-p99", "off"), ("--health-resolve-ratio", "0.5"), ("--micro-batching", "")]
    for (flag, shown), (following, _) in zip(flags, flags[1:], strict=False):
        said = text[text.index(f"{flag} "):text.index(f"{following} ")]
        assert f"[default: {shown}]" in said, said


def test_the_servers_health_defaults_are_health_policys() -> None:
    """settings.HealthSettings (the server's monitoring.health) repeats HealthPolicy's defaults (opsloop serve's
    and a reference's): the two must not drift apart."""
    import dataclasses

    from opsloop.mlops.monitoring.health import HealthPolicy
    from opsloop.settings import HealthSettings

    assert HealthSettings().model_dump() == dataclasses.asdict(HealthPolicy())
