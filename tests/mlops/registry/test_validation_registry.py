"""opsloop's ``ValidationRegistry`` implementations: reports become stored validations, promotion is gated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner
from tests.mlops.registry.conftest import LoggedSklearn, Server, unique

from opsloop.errors import InvalidStateError, NotFoundError, ValidationFailedError
from opsloop.mlops.registry import HttpValidationRegistry, LocalValidationRegistry
from opsloop.mlops.registry.validation_registry import champion_version_of
from opsloop.runtime import build_runtime
from opsloop.settings import load_settings


@dataclass
class FakeReport:
    """The two things the registry reads of a ``ValidationReport``."""

    passed: bool
    champion: str | None

    def to_dict(self) -> dict:
        return {"passed": self.passed, "champion": self.champion, "rules": []}


@pytest.fixture
def two_versions(mlflow_at: str, sklearn_models: tuple[LoggedSklearn, LoggedSklearn]) -> str:
    name = unique("gate")
    for logged in sklearn_models:
        mlflow.register_model(logged.model_uri, name)
    return name


def test_champion_label_parsing() -> None:
    assert champion_version_of(FakeReport(True, "3 (@champion)")) == 3
    assert champion_version_of(FakeReport(True, "12")) == 12
    assert champion_version_of(FakeReport(True, None)) is None
    assert champion_version_of(FakeReport(True, "/tmp/model")) is None


def test_http_validation_registry_gates_promotion(registry_server: Server, two_versions: str, tmp_path: Path) -> None:
    from opsloop.mlops.validation.registry import ValidationRegistry

    gate = HttpValidationRegistry(registry_server.url, cache_dir=tmp_path)
    assert isinstance(gate, ValidationRegistry)
    name = two_versions
    assert gate.alias_version(name, "champion") is None
    with pytest.raises(NotFoundError):
        gate.alias_version(unique("ghost"), "champion")
    gate.store_report(name, "1", FakeReport(True, None))
    gate.promote(name, "1", "champion")
    assert gate.alias_version(name, "champion") == "1"
    assert (gate.resolve(gate.version_uri(name, "2")) / "MLmodel").is_file()
    gate.store_report(name, "2", FakeReport(False, "1 (@champion)"))
    with pytest.raises(ValidationFailedError):
        gate.promote(name, "2", "champion")
    gate.store_report(name, "2", FakeReport(True, "1 (@champion)"))
    gate.promote(name, "2", "champion")
    history = httpx.get(f"{registry_server.url}/api/opsloop/v1/models/{name}/promotions").json()["promotions"]
    assert [(p["to_version"], p["reason"]) for p in history] == [("1", "passed opsloop models validate"),
                                                                  ("2", "passed opsloop models validate")]
    assert all(p["validation_id"] is not None and "opsloop models validate" in p["actor"] for p in history)


def test_local_validation_registry_gates_promotion(registry_server: Server, two_versions: str,
                                                   tmp_path: Path) -> None:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(registry_server.data_dir)}}, environ={}))
    try:
        gate = LocalValidationRegistry(runtime, cache_dir=tmp_path)
        with pytest.raises(InvalidStateError):
            gate.promote(two_versions, "1", "champion")
        gate.store_report(two_versions, "1", FakeReport(True, None))
        gate.promote(two_versions, "1", "champion")
        assert gate.alias_version(two_versions, "champion") == "1"
        assert (gate.resolve(f"models:/{two_versions}@champion") / "MLmodel").is_file()
    finally:
        runtime.close()


def test_models_validate_cli_promotes_through_the_opsloop_registry(registry_server: Server, mlflow_at: str,
                                                                   tmp_path: Path) -> None:
    """The validation engineer's CLI, given this registry, stores the report and moves @champion audited."""
    from sklearn.linear_model import LogisticRegression

    from opsloop.cli.models import models

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    labels = [0, 0, 0, 1, 1, 1]
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(LogisticRegression().fit(frame, labels), name="model",
                                        input_example=frame.head(2))
    name = unique("cli")
    mlflow.register_model(info.model_uri, name)
    data = tmp_path / "eval.csv"
    frame.assign(label=labels).to_csv(data, index=False)
    gate = HttpValidationRegistry(registry_server.url, cache_dir=tmp_path / "cache")
    result = CliRunner().invoke(models, ["validate", name, "--candidate", "1", "--data", str(data),
                                         "--target", "label", "--promote"],
                                obj={"validation_registry": gate})
    assert result.exit_code == 0, result.output
    assert gate.alias_version(name, "champion") == "1"
    base = f"{registry_server.url}/api/opsloop/v1/models/{name}"
    validations = httpx.get(f"{base}/versions/1/validations").json()["validations"]
    assert [v["passed"] for v in validations] == [True]
    promotions = httpx.get(f"{base}/promotions").json()["promotions"]
    assert [p["validation_id"] for p in promotions] == [validations[0]["id"]]
