"""A rule on a metric the candidate has no value of is an ``error`` that says why: a model without class
probabilities has no AUC or log-loss. The note said only "metric 'auc' is not available"."""

from __future__ import annotations

import json
from pathlib import Path

from tests.mlops.validation.conftest import labelled
from tests.mlops.validation.test_labels_the_model_cannot_predict import _validate


def test_a_rule_on_a_metric_the_candidate_cannot_have_says_why(tmp_path: Path) -> None:
    import mlflow.sklearn
    from sklearn.svm import LinearSVC

    frame = labelled(400, seed=5)
    x = frame[["a", "b", "group"]]
    model_dir = tmp_path / "svm"  # predicts labels, no probabilities
    mlflow.sklearn.save_model(LinearSVC().fit(x, frame["label"]), str(model_dir), input_example=x.head(2))
    data = tmp_path / "eval.parquet"
    frame.to_parquet(data)
    policy = tmp_path / "policy.yaml"
    policy.write_text("target: label\nrules:\n  - auc >= 0.7\n  - accuracy >= 0.5\n")
    code, out = _validate("validate", "credit", "--candidate", "1", "--candidate-uri", str(model_dir),
                          "--data", str(data), "--policy", str(policy), "--json")
    assert code == 1, out
    verdicts = {r["rule"]: r for r in json.loads(out[:out.rindex("}") + 1])["rules"]}
    assert verdicts["auc >= 0.7"]["status"] == "error"
    assert verdicts["auc >= 0.7"]["note"] == ("metric 'auc' is not available: it needs class probabilities, and "
                                              "the candidate gives none (no predict_proba)")
    assert verdicts["accuracy >= 0.5"]["status"] == "passed"
