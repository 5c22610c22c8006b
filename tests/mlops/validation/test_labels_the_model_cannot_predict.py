"""Labels written in another encoding than the candidate predicts (``yes``/``no`` for a model of 0/1)
cannot be validated: no prediction can ever be right, so every metric is 0 — and a rule against the
champion, scored as badly on the same data, passed (``accuracy >= champion - 0.01``: 0 >= -0.01), so
``--promote`` moved the alias to a model the data never judged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from tests.mlops.validation.conftest import labelled

from opsloop.cli.models import models


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(models, list(args), env={"MLFLOW_TRACKING_URI": ""}, catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def test_labels_no_prediction_can_match_are_refused_naming_the_target(classifiers: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    frame = labelled(500, seed=3)
    frame["label"] = np.where(frame["label"] == 1, "yes", "no")
    data = tmp_path / "eval.parquet"
    frame.to_parquet(data)
    policy = tmp_path / "policy.yaml"
    policy.write_text("target: label\nrules:\n  - accuracy >= champion - 0.01\n")
    code, out = _validate("validate", "credit", "--candidate", "2", "--candidate-uri", str(classifiers["fair"]),
                          "--champion-uri", str(classifiers["biased"]), "--data", str(data), "--policy", str(policy))
    assert code == 2, out
    assert "none of the candidate's predictions (0, 1) is a value of 'label' ('no', 'yes')" in out, out
    assert "PASSED" not in out


def test_labels_of_another_type_with_the_same_values_are_still_scored(classifiers: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    frame = labelled(500, seed=3)
    frame["label"] = frame["label"].astype(bool)  # True/False for a model of 0/1: the same classes
    data = tmp_path / "eval.parquet"
    frame.to_parquet(data)
    code, out = _validate("validate", "credit", "--candidate", "2", "--candidate-uri", str(classifiers["fair"]),
                          "--data", str(data), "--target", "label")
    assert code == 0 and "PASSED" in out, out


def test_a_model_of_text_classes_is_scored_on_labels_of_the_same_numbers(tmp_path: Path) -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    frame = labelled(500, seed=4)
    x = frame[["a", "b", "group"]]
    model_dir = tmp_path / "text-classes"
    mlflow.sklearn.save_model(LogisticRegression().fit(x, frame["label"].astype(str)), str(model_dir),
                              input_example=x.head(2))  # classes '0' and '1'; the data's labels are 0 and 1
    data = tmp_path / "eval.parquet"
    frame.to_parquet(data)
    code, out = _validate("validate", "credit", "--candidate", "1", "--candidate-uri", str(model_dir),
                          "--data", str(data), "--target", "label")
    assert code == 0 and "PASSED" in out, out
