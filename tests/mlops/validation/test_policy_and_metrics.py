"""Policy rules, metrics and group gaps, on their own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.validation import group_gap, infer_task, load_policy, parse_rule, score_metrics


@pytest.mark.parametrize(("text", "champion", "bound"), [
    ("auc >= champion - 0.01", 0.9, 0.89),
    ("accuracy >= 0.8", None, 0.8),
    ("rmse <= champion * 1.05", 2.0, 2.1),
    ("gap(accuracy, gender) <= 0.05", None, 0.05),
    ("f1 > champion", 0.5, 0.5),
])
def test_rules_parse_to_their_bounds(text: str, champion: float | None, bound: float) -> None:
    assert parse_rule(text).bound(champion) == pytest.approx(bound)


def test_champion_rules_have_no_bound_without_a_champion() -> None:
    assert parse_rule("auc >= champion - 0.01").bound(None) is None


@pytest.mark.parametrize("text", ["auc", "auc => 0.1", "gap(auc, g) <= x", "auc >= champ", ""])
def test_malformed_rules_are_rejected_with_an_example(text: str) -> None:
    with pytest.raises(InvalidInputError, match="auc >= champion - 0.01"):
        parse_rule(text)


def test_policy_file_is_read_and_checked(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text("target: y\nsensitive: gender\nrules:\n  - auc >= champion - 0.01\n  - gap(accuracy) <= 0.05\n")
    policy = load_policy(p)
    assert policy.target == "y" and policy.sensitive == ["gender"] and len(policy.rules) == 2
    p.write_text("target: y\nthreshold: 3\n")
    with pytest.raises(InvalidInputError, match="threshold"):
        load_policy(p)
    with pytest.raises(NotFoundError):
        load_policy(tmp_path / "missing.yaml")


def test_metrics_for_both_tasks() -> None:
    y = np.array([0, 1, 1, 0, 1])
    m = score_metrics("classification", y, np.array([0, 1, 0, 0, 1]), np.array([0.1, 0.9, 0.4, 0.2, 0.8]))
    assert m["accuracy"] == pytest.approx(0.8) and m["auc"] == pytest.approx(1.0)
    r = score_metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert r["mae"] == pytest.approx(2 / 3) and r["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert infer_task([0, 1, 1]) == "classification" and infer_task(np.linspace(0, 1, 50)) == "regression"


def test_group_gap_measures_the_spread_between_groups() -> None:
    frame = pd.DataFrame({"g": ["a"] * 40 + ["b"] * 40 + ["c"] * 5})
    y = np.ones(85, dtype=int)
    pred = np.r_[np.ones(40), np.r_[np.ones(30), np.zeros(10)], np.zeros(5)].astype(int)
    gap = group_gap("classification", "accuracy", "g", frame, y, pred, min_group_size=30)
    assert gap.groups == {"a": 1.0, "b": 0.75} and gap.gap == pytest.approx(0.25)
    assert gap.skipped == {"c": 5}
    with pytest.raises(InvalidInputError, match="sensitive column"):
        group_gap("classification", "accuracy", "nope", frame, y, pred)


@pytest.mark.parametrize(("text", "field"), [
    ("target: y\nmin_group_size: abc\n", "min_group_size"),
    ("target: y\nmin_group_size: -3\n", "min_group_size"),
    ("target: y\nsensitive: 5\n", "sensitive"),
    ("target: y\nsensitive: [g, [h]]\n", "sensitive"),
    ("target: [a, b]\n", "target"),
    ("- target\n- y\n", "policy"),
    ("target: y\npositive_label: [1]\n", "positive_label"),
    ("target: y\npositive_label: {a: 1}\n", "positive_label"),
    ("target: y\nrules: ['gap(accuracy) <= 0.05']\n", "sensitive"),  # a gap over which column?
])
def test_a_policy_value_of_the_wrong_type_is_an_error_naming_its_key(tmp_path: Path, text: str, field: str) -> None:
    """min_group_size: abc and sensitive: 5 ended `opsloop models validate` in a traceback."""
    assert _refused(tmp_path, text).field == field


def _refused(tmp_path: Path, text: str) -> InvalidInputError:
    """The error of reading the policy file ``text``."""
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    with pytest.raises(InvalidInputError) as err:
        load_policy(p)
    return err.value


@pytest.mark.parametrize(("text", "said"), [
    ("target: y\ntask: classification\nrules: [rmse <= 1.0]\n", "'rmse' is a regression metric, and the policy's task is classification"),
    ("target: y\ntask: regression\nrules: ['gap(tpr, g) <= 0.1']\n", "'tpr' is a classification metric"),
    ("target: y\nrules: [accuracy >= 0.8, rmse <= 1.0]\n", "mix classification metrics (accuracy) and regression metrics (rmse)"),
])
def test_rules_no_task_can_measure_are_an_error_when_the_policy_is_read(tmp_path: Path, text: str, said: str) -> None:
    """They were found only once the data was scored: for a retrain runbook, after its training."""
    error = _refused(tmp_path, text)
    assert said in error.message and error.field == "rules"


def test_a_policy_file_that_is_not_utf8_is_refused_naming_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes("rules:\n  - 'accuracy >= 0.8'  # r\xe9vis\xe9e\n".encode("latin-1"))
    with pytest.raises(InvalidInputError) as err:
        load_policy(path)
    assert err.value.field == "policy" and "not UTF-8" in err.value.message
