"""`opsloop models validate`: candidate vs champion, fairness, exit codes, registry and promotion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from opsloop.cli.models import models

POLICY = "target: label\nsensitive: group\nrules:\n  - accuracy >= champion - 0.01\n  - auc >= 0.7\n" \
         "  - gap(accuracy) <= 0.05\n"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(models, list(args), env=env or {"MLFLOW_TRACKING_URI": ""}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def policy(tmp_path: Path) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(POLICY)
    return p


def test_fair_candidate_beats_biased_champion(classifiers: dict[str, Path], data_file: Path, policy: Path,
                                              tmp_path: Path) -> None:
    code, out, err = run("validate", "credit", "--candidate", "2", "--candidate-uri", str(classifiers["fair"]),
                         "--champion-uri", str(classifiers["biased"]), "--data", str(data_file), "--policy",
                         str(policy), "--report-dir", str(tmp_path / "report"))
    assert code == 0, out + err
    assert "PASSED" in out and "gap(accuracy) <= 0.05" in out
    doc = json.loads((tmp_path / "report" / "validation.json").read_text())
    assert doc["passed"] and doc["metrics"]["champion"]["accuracy"] < doc["metrics"]["candidate"]["accuracy"]
    gap = doc["fairness"]["champion"][0]
    assert gap["column"] == "group" and gap["gap"] > 0.1
    assert (tmp_path / "report" / "validation.md").read_text().startswith("# Validation of credit")


def test_biased_candidate_fails_the_gate_with_exit_code_1(classifiers: dict[str, Path], data_file: Path,
                                                           policy: Path) -> None:
    code, out, err = run("validate", "credit", "--candidate", "3", "--candidate-uri", str(classifiers["biased"]),
                         "--champion-uri", str(classifiers["fair"]), "--data", str(data_file), "--policy",
                         str(policy), "--json")
    assert code == 1
    doc = json.loads(out)
    verdicts = {r["rule"]: r["status"] for r in doc["rules"]}
    assert verdicts["gap(accuracy) <= 0.05"] == "failed"
    assert verdicts["accuracy >= champion - 0.01"] == "failed"
    assert "did not pass" in err


def test_first_model_passes_champion_rules_as_skipped(classifiers: dict[str, Path], data_file: Path) -> None:
    code, out, _ = run("validate", "credit", "--candidate", "1", "--candidate-uri", str(classifiers["fair"]),
                       "--data", str(data_file), "--target", "label", "--json")
    assert code == 0
    assert {r["status"] for r in json.loads(out)["rules"]} == {"skipped"}


def test_bad_inputs_exit_2_with_a_message(classifiers: dict[str, Path], data_file: Path, tmp_path: Path) -> None:
    code, _, err = run("validate", "credit", "--candidate", "1", "--candidate-uri", str(classifiers["fair"]),
                       "--data", str(data_file), "--target", "nope")
    assert code == 2 and "target column 'nope'" in err and "Traceback" not in err
    code, _, err = run("validate", "credit", "--candidate", "1", "--data", str(data_file))
    assert code == 2 and "no model registry" in err
    code, _, err = run("validate", "credit", "--candidate", "1", "--candidate-uri", str(tmp_path / "none"),
                       "--data", str(data_file))
    assert code == 2 and "does not exist" in err


def test_registry_versions_are_validated_stored_and_promoted(classifiers: dict[str, Path], data_file: Path,
                                                             policy: Path, tmp_path: Path) -> None:
    import mlflow
    import mlflow.sklearn
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri, uri)
    for source in ("biased", "fair"):
        with mlflow.start_run():
            model = mlflow.sklearn.load_model(str(classifiers[source]))
            mlflow.sklearn.log_model(model, name="model", registered_model_name="credit", serialization_format="cloudpickle",
                                     signature=mlflow.models.Model.load(str(classifiers[source])).signature)
    client.set_registered_model_alias("credit", "champion", "1")
    env = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}
    code, out, err = run("validate", "credit", "--candidate", "2", "--data", str(data_file), "--policy",
                         str(policy), "--promote", env=env)
    assert code == 0, out + err
    assert "1 (@champion)" in out
    assert str(client.get_model_version_by_alias("credit", "champion").version) == "2"
    tags = client.get_model_version("credit", "2").tags
    assert tags["opsloop.validation.passed"] == "true"
    code, _, err = run("validate", "nosuch", "--candidate", "1", "--data", str(data_file), env=env)
    assert code == 2 and "nosuch" in err


def test_regression_candidate_is_held_to_the_champions_error(tmp_path: Path) -> None:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    frame["price"] = 3 * frame["a"] - frame["b"] + rng.normal(scale=0.1, size=500)
    x = frame[["a", "b"]]
    for name, model in (("good", LinearRegression()), ("dummy", DummyRegressor())):
        model.fit(x, frame["price"])
        mlflow.sklearn.save_model(model, str(tmp_path / name), signature=infer_signature(x, model.predict(x)),
                                  serialization_format="cloudpickle")
    frame.to_csv(tmp_path / "eval.csv", index=False)
    (tmp_path / "p.yaml").write_text("target: price\nrules:\n  - rmse <= champion * 1.05\n  - r2 >= 0.5\n")
    args = ["--data", str(tmp_path / "eval.csv"), "--policy", str(tmp_path / "p.yaml"), "--json"]
    code, out, _ = run("validate", "price", "--candidate", "2", "--candidate-uri", str(tmp_path / "dummy"),
                       "--champion-uri", str(tmp_path / "good"), *args)
    doc = json.loads(out)
    assert code == 1 and doc["task"] == "regression" and not doc["passed"]
    code, out, _ = run("validate", "price", "--candidate", "3", "--candidate-uri", str(tmp_path / "good"),
                       "--champion-uri", str(tmp_path / "dummy"), *args)
    assert code == 0 and json.loads(out)["metrics"]["candidate"]["rmse"] < 0.2


def test_data_the_model_cannot_score_exits_2_with_a_message(classifiers: dict[str, Path], tmp_path: Path) -> None:
    # The model's own ValueError (a text column where it needs numbers) used to end the command in a traceback.
    from tests.mlops.validation.conftest import labelled

    labelled(50).assign(b="high").to_parquet(tmp_path / "text.parquet")
    code, _, err = run("validate", "credit", "--candidate", "1", "--candidate-uri", str(classifiers["fair"]),
                       "--data", str(tmp_path / "text.parquet"), "--target", "label")
    assert code == 2 and err.startswith("error: ") and "the model rejected the input" in err, err


@pytest.mark.parametrize(("rule", "says"), [
    ("accurcy >= 0.5", "unknown metric 'accurcy'"),
    ("gap(aucc, group) <= 0.5", "unknown metric 'aucc'"),
    ("rmse <= 1.0", "'rmse' is a regression metric"),
])
def test_a_rule_the_gate_cannot_apply_exits_2_instead_of_failing_or_passing_the_candidate(
        classifiers: dict[str, Path], data_file: Path, tmp_path: Path, rule: str, says: str) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text(f"target: label\nrules:\n  - {rule}\n")
    code, out, err = run("validate", "credit", "--candidate", "1", "--candidate-uri", str(classifiers["fair"]),
                         "--data", str(data_file), "--policy", str(p))
    assert code == 2, out + err
    assert says in err and "Traceback" not in err


def test_a_fairness_gap_over_fewer_than_two_measured_groups_does_not_pass(classifiers: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    from tests.mlops.validation.conftest import labelled

    data = tmp_path / "small.parquet"
    labelled(40, seed=3).to_parquet(data)  # two groups of about 20 rows: both under min_group_size (30)
    p = tmp_path / "policy.yaml"
    p.write_text("target: label\nsensitive: group\nrules:\n  - gap(accuracy) <= 0.05\n")
    code, out, err = run("validate", "credit", "--candidate", "1", "--candidate-uri", str(classifiers["fair"]),
                         "--data", str(data), "--policy", str(p), "--json")
    assert code == 1, out + err
    (verdict,) = json.loads(out)["rules"]
    assert verdict["status"] == "error" and "fewer than two groups" in verdict["note"]


def test_text_labels_without_their_positive_label_exit_2_naming_it(tmp_path: Path) -> None:
    """Labels 'yes'/'no' with the default positive_label 1 ended in a traceback from scikit-learn."""
    import warnings

    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300)})
    frame["label"] = np.where(frame["a"] > 0, "yes", "no")
    fitted = LogisticRegression().fit(frame[["a"]], frame["label"])
    mlflow.sklearn.save_model(fitted, str(tmp_path / "m"), signature=infer_signature(frame[["a"]], fitted.predict(frame[["a"]])))
    frame.to_csv(tmp_path / "data.csv", index=False)
    p = tmp_path / "policy.yaml"
    p.write_text("target: label\nrules:\n  - f1 >= 0.5\n")
    args = ("validate", "m", "--candidate", "1", "--candidate-uri", str(tmp_path / "m"), "--data",
            str(tmp_path / "data.csv"), "--policy", str(p))
    code, out, err = run(*args)
    assert code == 2 and "positive_label" in err and "'yes'" in err and "Traceback" not in err, out + err
    p.write_text("target: label\npositive_label: 'yes'\nrules:\n  - f1 >= 0.5\n")
    code, out, err = run(*args)
    assert code == 0, out + err
