"""The validation policy file: which data column is the truth, and the rules a candidate must pass.

Example (YAML)::

    target: churned              # the label column of the data file
    task: classification         # or regression; inferred from the target when omitted
    positive_label: 1
    sensitive: gender            # or a list; the columns of the fairness check
    min_group_size: 30
    rules:
      - auc >= champion - 0.01   # not lower than the champion minus 0.01
      - accuracy >= 0.8
      - gap(accuracy, gender) <= 0.05
      - rmse <= champion * 1.05

A rule is ``LEFT OP RIGHT``: ``LEFT`` is a metric name or ``gap(METRIC[, COLUMN])``; ``OP`` is one
of ``>= <= > <``; ``RIGHT`` is a number, ``champion`` or ``champion [+-*] NUMBER``. Rules against
the champion are skipped (and pass) when there is no champion yet. ``METRIC`` is one of
``KNOWN_METRICS`` (``gap()`` also takes ``tpr`` and ``fpr``): an unknown name is an error when the policy
is read, and so are rules of both tasks, or of the other one than the policy's ``task``; a metric of the
task the data is not (``rmse`` for a classifier) is one when the data is read, so a policy the gate
cannot apply makes ``opsloop models validate`` exit 2 instead of failing (or passing) the candidate. A
``gap()`` over fewer than two groups of ``min_group_size`` rows is not measured: its rule is an
``error``, and the candidate does not pass.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.validation.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

__all__ = ["GAP_ONLY_METRICS", "KNOWN_METRICS", "Rule", "ValidationPolicy", "load_policy", "parse_rule"]

KNOWN_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
GAP_ONLY_METRICS = ("tpr", "fpr")  # per-group rates of the fairness check

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt,
                                                   "<": operator.lt}
_RULE = re.compile(
    r"^\s*(?:gap\(\s*(?P<gmetric>\w+)\s*(?:,\s*(?P<gcol>[^)\s]+)\s*)?\)|(?P<metric>\w+))\s*"
    r"(?P<op>>=|<=|>|<)\s*"
    r"(?:(?P<champ>champion)\s*(?:(?P<aop>[-+*])\s*(?P<anum>[-+]?\d*\.?\d+(?:e[-+]?\d+)?))?"
    r"|(?P<num>[-+]?\d*\.?\d+(?:e[-+]?\d+)?))\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One gate: ``metric`` (or its group gap over ``gap_column``) compared with a bound."""

    text: str
    metric: str
    op: str
    value: float = 0.0
    relative_to_champion: bool = False
    champion_op: str = "+"
    gap: bool = False
    gap_column: str | None = None

    def bound(self, champion_value: float | None) -> float | None:
        """The threshold; ``None`` when it depends on a champion there is not."""
        if not self.relative_to_champion:
            return self.value
        if champion_value is None:
            return None
        return champion_value * self.value if self.champion_op == "*" else champion_value + self.value

    def holds(self, observed: float, bound: float) -> bool:
        return _OPS[self.op](observed, bound)


def parse_rule(text: str) -> Rule:
    """Parse one rule string (see the module docstring).

    Raises:
        InvalidInputError: the text is not a rule.
    """
    m = _RULE.match(str(text))
    if m is None:
        raise InvalidInputError(
            f"cannot read rule {text!r}; write e.g. 'auc >= champion - 0.01', 'accuracy >= 0.8' or "
            "'gap(accuracy, gender) <= 0.05'", field="rules")
    gap = m.group("gmetric") is not None
    metric = (m.group("gmetric") or m.group("metric")).lower()
    known = KNOWN_METRICS + GAP_ONLY_METRICS if gap else KNOWN_METRICS
    if metric not in known:
        # a misspelt metric is never measured: the gate would fail every candidate (or pass every gap)
        raise InvalidInputError(f"rule {str(text).strip()!r}: unknown metric {metric!r}; use one of "
                                f"{', '.join(known)}", field="rules")
    if m.group("champ"):
        aop = m.group("aop") or "+"
        num = float(m.group("anum") or (1.0 if aop == "*" else 0.0))
        return Rule(str(text).strip(), metric, m.group("op"), -num if aop == "-" else num, True,
                    "*" if aop == "*" else "+", gap, m.group("gcol"))
    return Rule(str(text).strip(), metric, m.group("op"), float(m.group("num")), False, "+", gap, m.group("gcol"))


@dataclass(slots=True)
class ValidationPolicy:
    """What ``opsloop models validate`` checks; see the module docstring for the file format."""

    target: str = "label"
    task: str | None = None
    positive_label: Any = 1
    sensitive: list[str] = field(default_factory=list)
    min_group_size: int = 30
    rules: list[Rule] = field(default_factory=list)

    def with_defaults(self, task: str, has_scores: bool) -> ValidationPolicy:
        """This policy, or sensible default rules when it lists none."""
        if self.rules:
            return self
        texts = ["accuracy >= champion - 0.01"] if task == "classification" else ["rmse <= champion * 1.01"]
        if task == "classification" and has_scores:
            texts.append("auc >= champion - 0.01")
        if task == "classification":
            texts += [f"gap(accuracy, {c}) <= 0.05" for c in self.sensitive]
        return ValidationPolicy(self.target, self.task, self.positive_label, self.sensitive, self.min_group_size,
                                [parse_rule(t) for t in texts])

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ValidationPolicy:
        if not isinstance(doc, dict):
            raise InvalidInputError("a policy file must be a mapping (target, rules, …)", field="policy")
        unknown = set(doc) - {"target", "task", "positive_label", "sensitive", "min_group_size", "rules"}
        if unknown:
            raise InvalidInputError(f"unknown policy keys {sorted(unknown)}", field=sorted(unknown)[0])
        task = doc.get("task")
        if task not in (None, "classification", "regression"):
            raise InvalidInputError("task must be 'classification' or 'regression'", field="task")
        rules = doc.get("rules") or []
        if not isinstance(rules, list):
            raise InvalidInputError("rules must be a list of strings", field="rules")
        target = doc.get("target", "label")
        if not isinstance(target, str | int) or isinstance(target, bool):
            raise InvalidInputError("target must be the name of the label column", field="target")
        positive = doc.get("positive_label", 1)
        if not isinstance(positive, str | int | float):  # bool is an int: a label like true is one
            raise InvalidInputError(f"positive_label must be one label (a number, text or true/false); got "
                                    f"{positive!r}", field="positive_label")
        parsed = [parse_rule(r) for r in rules]
        _one_task(task, parsed)
        sensitive = _sensitive(doc.get("sensitive"))
        if not sensitive and any(r.gap and not r.gap_column for r in parsed):
            raise InvalidInputError("a gap() rule needs a column, in the rule or as 'sensitive'", field="sensitive")
        return cls(target=str(target), task=task, positive_label=positive, sensitive=sensitive,
                   min_group_size=_group_size(doc.get("min_group_size", 30)), rules=parsed)


def _one_task(task: str | None, rules: list[Rule]) -> None:
    """Refuse rules on metrics of the policy's other task, or of both tasks: no data can measure them all."""
    by_task: dict[str, list[Rule]] = {}
    for rule in rules:
        by_task.setdefault("regression" if rule.metric in REGRESSION_METRICS else "classification", []).append(rule)
    if task is not None:
        for other, wrong in by_task.items():
            if other != task:
                raise InvalidInputError(f"rule {wrong[0].text!r}: {wrong[0].metric!r} is a {other} metric, and the "
                                        f"policy's task is {task}", field="rules")
    elif len(by_task) > 1:
        names = {t: ", ".join(dict.fromkeys(r.metric for r in found)) for t, found in by_task.items()}
        raise InvalidInputError(f"the rules mix classification metrics ({names['classification']}) and regression "
                                f"metrics ({names['regression']}); one model is measured by one kind", field="rules")


def _sensitive(value: Any) -> list[str]:
    """``sensitive``: a column name or a list of them."""
    if not value:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInputError("sensitive must be a column name or a list of column names", field="sensitive")
    return names


def _group_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"min_group_size must be a whole number of rows of at least 1; got {value!r}",
                                field="min_group_size")
    return value


def load_policy(path: str | Path) -> ValidationPolicy:
    """Read a YAML (or JSON) policy file.

    Raises:
        NotFoundError: no such file.
        InvalidInputError: the file is not a valid policy.
    """
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"policy file {p} does not exist", field="policy")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"policy file {p} is not UTF-8 text: {exc.reason} at byte {exc.start}",
                                field="policy") from exc
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"policy file {p} is not valid YAML: {exc}", field="policy") from exc
    return ValidationPolicy.from_dict(doc or {})
