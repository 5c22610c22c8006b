"""Validation gates: candidate vs champion on the same data, fairness gaps, policy rules, a report."""

from opsloop.mlops.validation.fairness import GroupGap, group_gap
from opsloop.mlops.validation.gate import model_outputs, validate_models
from opsloop.mlops.validation.metrics import infer_task, score_metrics
from opsloop.mlops.validation.policy import Rule, ValidationPolicy, load_policy, parse_rule
from opsloop.mlops.validation.registry import (
    PASSED_TAG,
    SUMMARY_TAG,
    TIME_TAG,
    MlflowValidationRegistry,
    ValidationRegistry,
)
from opsloop.mlops.validation.report import RuleResult, ValidationReport

__all__ = [
    "PASSED_TAG",
    "SUMMARY_TAG",
    "TIME_TAG",
    "GroupGap",
    "MlflowValidationRegistry",
    "Rule",
    "RuleResult",
    "ValidationPolicy",
    "ValidationRegistry",
    "ValidationReport",
    "group_gap",
    "infer_task",
    "load_policy",
    "model_outputs",
    "parse_rule",
    "score_metrics",
    "validate_models",
]
