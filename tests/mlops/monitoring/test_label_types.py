"""Live performance compares what the model answered with the label as the same value whatever JSON type
the label came in: 1.0 or "1" for a classifier's 1, "12.5" for a regressor's 12.5."""

from __future__ import annotations

from typing import Any

import pytest

from opsloop.mlops.monitoring import PerformancePolicy, PredictionSample, live_performance


def _report(preds: list[Any], labels: list[Any], **policy: Any) -> Any:
    samples = [PredictionSample("m", f"r{i}", 0, 1.0, {"x": 1.0}, p, label=y)
               for i, (p, y) in enumerate(zip(preds, labels, strict=True))]
    return live_performance("m", samples, PerformancePolicy(confidence=0, **policy))


@pytest.mark.parametrize("label", [float, str, lambda v: bool(v)])
def test_a_classifiers_right_answers_count_as_right_whatever_the_labels_json_type(label: Any) -> None:
    """Labels posted as 1.0 (a pandas float column) made every answer wrong: a breach, an incident, a retrain."""
    preds = [i % 2 for i in range(40)]
    report = _report(preds, [label(p) for p in preds], min_accuracy=0.9)
    assert report.task == "classification" and report.metrics["accuracy"] == 1.0 and report.breaches == {}


def test_boolean_answers_match_zero_and_one_labels() -> None:
    preds = [bool(i % 2) for i in range(40)]
    assert _report(preds, [int(p) for p in preds]).metrics["accuracy"] == 1.0


def test_a_regressors_labels_sent_as_text_are_measured_as_numbers() -> None:
    """"10.37" labels made a regression model a classifier of accuracy 0, and max_rmse was never checked."""
    preds = [i + 0.37 for i in range(40)]
    report = _report(preds, [str(p + 5) for p in preds], max_rmse=1.0)
    assert report.task == "regression" and report.metrics["rmse"] == pytest.approx(5.0)
    assert set(report.breaches) == {"rmse"}


def test_text_classes_are_still_compared_as_text() -> None:
    preds = ["yes", "no"] * 20
    report = _report(preds, ["yes"] * 40)
    assert report.task == "classification" and report.metrics["accuracy"] == 0.5
