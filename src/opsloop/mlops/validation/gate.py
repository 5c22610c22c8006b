"""The validation gate: score candidate and champion on the same data and apply the policy's rules."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from opsloop.errors import InvalidInputError
from opsloop.mlops.serving.loading import LoadedModel
from opsloop.mlops.validation.fairness import group_gap
from opsloop.mlops.validation.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    infer_task,
    score_metrics,
)
from opsloop.mlops.validation.policy import GAP_ONLY_METRICS, Rule, ValidationPolicy
from opsloop.mlops.validation.report import RuleResult, ValidationReport

__all__ = ["model_outputs", "validate_models"]


def _features(model: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame:
    names = model.signature.names
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InvalidInputError(f"the data lacks model inputs {missing}", field=missing[0])
    return frame[names] if names else frame


def model_outputs(model: LoadedModel, frame: pd.DataFrame, task: str, positive: Any) -> tuple[np.ndarray, Any]:
    """(predictions, scores or ``None``): scores are P(positive) from ``predict_proba`` when the model has it."""
    x = _features(model, frame)
    pred = np.asarray(model.predict_frame(x))
    if pred.ndim > 1:
        pred = pred.reshape(len(pred), -1)[:, -1]
    if task != "classification":
        return pred, None
    proba_fn = getattr(model.native, "predict_proba", None)
    if callable(proba_fn):
        proba = np.asarray(proba_fn(x.to_numpy(dtype=float) if model.fast_path else x))
        classes = list(getattr(model.native, "classes_", range(proba.shape[1])))
        if proba.shape[1] == 2:
            idx = classes.index(positive) if positive in classes else 1
            return pred, proba[:, idx]
        return pred, proba
    if pred.dtype.kind == "f" and pred.size and 0 <= pred.min() and pred.max() <= 1 and \
            not np.all(np.mod(pred, 1) == 0):
        return (pred >= 0.5).astype(int), pred  # a model that outputs probabilities
    return pred, None


def _values(values: np.ndarray, most: int = 5) -> str:
    """A few distinct values, for a message: ``0, 1`` or ``'no', 'yes'``."""
    distinct = pd.unique(pd.Series(values)).tolist()
    try:
        distinct = sorted(distinct)
    except TypeError:  # mixed types: as found
        pass
    return ", ".join(repr(v) for v in distinct[:most]) + (", …" if len(distinct) > most else "")


def _check_labels(model: LoadedModel, pred: np.ndarray, y: np.ndarray, target: str) -> None:
    """Refuse labels that no prediction of the candidate can equal (another encoding: ``yes``/``no`` for a
    model of 0/1): every metric would be 0 for candidate and champion alike, and rules against the
    champion would pass. The model's classes (``classes_``) when it has them, else what it predicted."""
    classes = getattr(model.native, "classes_", None)
    can = np.asarray(classes) if classes is not None and len(classes) else pred
    compared, labels = can, np.asarray(y)
    if can.dtype.kind in "OSU" or labels.dtype.kind in "OSU":  # compared as text, as score_metrics does
        compared, labels = can.astype(str), labels.astype(str)
    if len(can) and not np.isin(compared, labels).any():
        raise InvalidInputError(f"none of the candidate's predictions ({_values(can)}) is a value of {target!r} "
                                f"({_values(y)}): the labels are encoded otherwise than the model predicts",
                                field=target)


def _side(model: LoadedModel, frame: pd.DataFrame, y: np.ndarray, task: str, policy: ValidationPolicy,
          gap_rules: list[Rule], candidate: bool = False) -> tuple[dict[str, float], dict[tuple[str, str], Any]]:
    pred, scores = model_outputs(model, frame, task, policy.positive_label)
    if candidate and task == "classification":
        _check_labels(model, pred, y, policy.target)
    metrics = score_metrics(task, y, pred, scores, positive=policy.positive_label)
    gaps = {}
    for rule in gap_rules:
        for col in [rule.gap_column] if rule.gap_column else policy.sensitive:
            gaps[(rule.metric, col)] = group_gap(task, rule.metric, col, frame, y, pred, scores,
                                                 positive=policy.positive_label,
                                                 min_group_size=policy.min_group_size)
    return metrics, gaps


def _check_task(policy: ValidationPolicy, task: str) -> None:
    """Refuse a rule on a metric of the other task: it could never be measured, so it would fail the gate."""
    other, other_task = (REGRESSION_METRICS, "regression") if task == "classification" else \
        (CLASSIFICATION_METRICS + GAP_ONLY_METRICS, "classification")
    for rule in policy.rules:
        if rule.metric in other:
            how = "given as the policy's task" if policy.task else f"inferred from {policy.target!r}"
            raise InvalidInputError(f"rule {rule.text!r}: {rule.metric!r} is a {other_task} metric, and the task "
                                    f"is {task} ({how}; set 'task' in the policy to change it)", field="rules")


def _observed(rule: Rule, metrics: dict[str, float], gaps: dict[tuple[str, str], Any]) -> float | None:
    if not rule.gap:
        return metrics.get(rule.metric)
    found = [g.gap for (m, _c), g in gaps.items() if m == rule.metric and (rule.gap_column in (None, _c))]
    if not found or any(np.isnan(v) for v in found):
        return None  # a column whose gap was not measured fails the rule rather than hide behind the others
    return max(found)


def _unmeasured(metric: str, scores: bool, classes: int) -> str:
    """Why the candidate has no value of ``metric`` (the note of its rule's ``error``)."""
    if metric in ("auc", "log_loss") and not scores:
        why = "it needs class probabilities, and the candidate gives none (no predict_proba)"
    elif metric in ("auc", "log_loss") and classes < 2:
        why = "it needs both classes among the labels"
    elif metric in ("log_loss", "selection_rate") and classes > 2:
        why = "it is measured for two classes only"
    elif metric == "mape":
        why = "every label is 0"
    else:
        return f"metric {metric!r} is not available"
    return f"metric {metric!r} is not available: {why}"


def _judge(rule: Rule, cand: float | None, champ: float | None, has_champion: bool, unmeasured: str) -> RuleResult:
    if cand is None or np.isnan(cand):
        note = (f"gap of {rule.metric!r} not measured: fewer than two groups with min_group_size rows and a value"
                if rule.gap else unmeasured)
        return RuleResult(rule.text, "error", None, champ, None, note=note)
    if rule.relative_to_champion and not has_champion:
        return RuleResult(rule.text, "skipped", cand, None, None, note="no champion to compare with")
    bound = rule.bound(champ)
    if bound is None or np.isnan(bound):
        return RuleResult(rule.text, "error", cand, champ, None, note="champion value is not available")
    return RuleResult(rule.text, "passed" if rule.holds(cand, bound) else "failed", cand, champ, bound)


def validate_models(name: str, candidate: LoadedModel, champion: LoadedModel | None, data: pd.DataFrame,
                    policy: ValidationPolicy, *, candidate_label: str = "", champion_label: str | None = None
                    ) -> ValidationReport:
    """Evaluate ``candidate`` (and ``champion`` when there is one) on ``data`` against ``policy``.

    Raises:
        InvalidInputError: the data lacks the target, a model input or a sensitive column, or is empty; or
            (classification) no prediction of the candidate is one of the labels.
    """
    if policy.target not in data.columns:
        raise InvalidInputError(f"target column {policy.target!r} is not in the data", field=policy.target)
    data = data[data[policy.target].notna()]
    if data.empty:
        raise InvalidInputError("the validation data has no labelled rows", field="data")
    y = data[policy.target].to_numpy()
    task = policy.task or infer_task(y)
    probe = model_outputs(candidate, data.head(50), task, policy.positive_label)[1] is not None
    policy = policy.with_defaults(task, probe)
    _check_task(policy, task)
    gap_rules = [r for r in policy.rules if r.gap]
    if any(r.gap and not r.gap_column for r in gap_rules) and not policy.sensitive:
        raise InvalidInputError("a gap() rule needs a column, in the rule or as 'sensitive'", field="sensitive")
    cand_metrics, cand_gaps = _side(candidate, data, y, task, policy, gap_rules, candidate=True)
    report = ValidationReport(model=name, candidate=candidate_label or candidate.uri,
                              champion=(champion_label or champion.uri) if champion else None, task=task,
                              rows=len(data), time=time.time(), metrics={"candidate": cand_metrics})
    report.fairness["candidate"] = [g.to_dict() for g in cand_gaps.values()]
    champ_metrics: dict[str, float] = {}
    champ_gaps: dict[tuple[str, str], Any] = {}
    if champion is not None:
        champ_metrics, champ_gaps = _side(champion, data, y, task, policy, gap_rules)
        report.metrics["champion"] = champ_metrics
        report.fairness["champion"] = [g.to_dict() for g in champ_gaps.values()]
    for rule in policy.rules:
        cand = _observed(rule, cand_metrics, cand_gaps)
        champ = _observed(rule, champ_metrics, champ_gaps) if champion is not None else None
        report.rules.append(_judge(rule, cand, champ, champion is not None,
                                   _unmeasured(rule.metric, probe, len(pd.unique(pd.Series(y))))))
    return report
