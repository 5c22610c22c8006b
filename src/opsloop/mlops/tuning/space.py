"""A hyperparameter search space, checked once and turned into Optuna distributions.

Each entry names a parameter and how to draw it::

    {
        "lr": {"low": 1e-4, "high": 0.1, "log": True},     # float (low/high given as floats)
        "depth": {"low": 2, "high": 10},                   # int (low/high given as ints)
        "units": {"low": 32, "high": 256, "step": 32},      # int on a grid
        "booster": {"choices": ["gbtree", "dart"]},        # categorical
        "booster2": ["gbtree", "dart"],                    # the same, shorter
        "epochs": {"value": 20},                           # fixed: logged, never searched
    }

``"type"`` (``float``, ``int``, ``categorical``) may be given to override what the bounds say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsloop.errors import InvalidInputError
from opsloop.mlops.tracking.limits import check_key

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["Choice", "FloatRange", "IntRange", "Parameter", "SearchSpace"]

Scalar = str | int | float | bool | None
_KINDS = ("float", "int", "categorical")
_KEYS = {"type", "low", "high", "step", "log", "choices", "value"}
_NONE = object()


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclass(frozen=True)
class Choice:
    choices: tuple[Scalar, ...]


Parameter = FloatRange | IntRange | Choice


@dataclass(frozen=True)
class SearchSpace:
    """The searched parameters and the fixed ones, in the order they were declared."""

    searched: dict[str, Parameter]
    fixed: dict[str, Scalar]

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> SearchSpace:
        """Check a space given as a mapping (see the module docstring); errors name ``space.<param>.<key>``."""
        if not isinstance(spec, Mapping):
            raise InvalidInputError("the search space must be a mapping of parameter names", field="space")
        searched: dict[str, Parameter] = {}
        fixed: dict[str, Scalar] = {}
        for name, entry in spec.items():
            if not isinstance(name, str) or not name:
                raise InvalidInputError(f"parameter names must be non-empty strings, got {name!r}", field="space")
            field = f"space.{name}"
            try:  # every trial logs its parameters into its run: a name MLflow refuses would fail them all
                check_key(name, "param")
            except InvalidInputError as exc:
                raise InvalidInputError(exc.message, field=field) from None
            if isinstance(entry, Mapping) and "value" in entry:
                _unknown_keys(entry, {"value"}, field)
                fixed[name] = _scalar(entry["value"], f"{field}.value")
            else:
                searched[name] = _parameter(entry, field)
        if not searched:
            raise InvalidInputError("the search space has no parameter to search", field="space")
        return cls(searched, fixed)

    def distributions(self) -> dict[str, BaseDistribution]:
        """The searched parameters as Optuna distributions (Optuna is the ``tune`` extra)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out: dict[str, BaseDistribution] = {}
        for name, param in self.searched.items():
            if isinstance(param, FloatRange):
                out[name] = FloatDistribution(param.low, param.high, log=param.log, step=param.step)
            elif isinstance(param, IntRange):
                out[name] = IntDistribution(param.low, param.high, log=param.log, step=param.step)
            else:
                out[name] = CategoricalDistribution(param.choices)
        return out

    def describe(self) -> dict[str, Any]:
        """A JSON-ready copy of the space, as it is logged with the tuning run."""
        out: dict[str, Any] = {}
        for name, param in self.searched.items():
            if isinstance(param, Choice):
                out[name] = {"type": "categorical", "choices": list(param.choices)}
            else:
                kind = "float" if isinstance(param, FloatRange) else "int"
                out[name] = {"type": kind, "low": param.low, "high": param.high, "log": param.log}
                if param.step is not None:
                    out[name]["step"] = param.step
        out.update({name: {"value": value} for name, value in self.fixed.items()})
        return out


def _unknown_keys(entry: Mapping[str, Any], allowed: set[str], field: str) -> None:
    unknown = sorted(str(key) for key in entry if key not in allowed)
    if unknown:
        raise InvalidInputError(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})",
                                field=f"{field}.{unknown[0]}")


def _scalar(value: Any, field: str) -> Scalar:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InvalidInputError(f"must be a string, number, boolean or null, got {value!r}", field=field)


def _parameter(entry: Any, field: str) -> Parameter:
    if isinstance(entry, list | tuple):
        entry = {"choices": entry}
    if not isinstance(entry, Mapping):
        raise InvalidInputError("must be a mapping (low/high, choices or value) or a list of choices", field=field)
    _unknown_keys(entry, _KEYS - {"value"}, field)
    kind = entry.get("type") or ("categorical" if "choices" in entry else _kind_of_bounds(entry, field))
    if kind not in _KINDS:
        raise InvalidInputError(f"type must be one of {', '.join(_KINDS)}, got {kind!r}", field=f"{field}.type")
    if kind == "categorical":
        return _choice(entry, field)
    return _range(entry, kind, field)


def _kind_of_bounds(entry: Mapping[str, Any], field: str) -> str:
    for key in ("low", "high"):
        if key not in entry:
            raise InvalidInputError(f"a range needs {key!r} (or give 'choices' or 'value')", field=f"{field}.{key}")
    ints = all(isinstance(entry[key], int) and not isinstance(entry[key], bool) for key in ("low", "high"))
    return "int" if ints else "float"


def _choice(entry: Mapping[str, Any], field: str) -> Choice:
    extra = sorted(set(entry) - {"type", "choices"})
    if extra:
        raise InvalidInputError(f"{extra[0]!r} does not apply to a categorical parameter", field=f"{field}.{extra[0]}")
    choices = entry.get("choices")
    if not isinstance(choices, list | tuple) or not choices:
        raise InvalidInputError("choices must be a non-empty list", field=f"{field}.choices")
    values = tuple(_scalar(value, f"{field}.choices") for value in choices)
    if len(set(map(repr, values))) != len(values):
        raise InvalidInputError("choices must not repeat", field=f"{field}.choices")
    for index, value in enumerate(values):
        # Optuna finds a drawn choice by ==, so of 1 and True (or 0 and 0.0) only the first could ever be tried
        same = next((other for other in values[:index] if other == value), _NONE)
        if same is not _NONE:
            raise InvalidInputError(f"choices {same!r} and {value!r} are equal to Optuna ({same!r} == {value!r}); "
                                    "give distinct values (strings, say)", field=f"{field}.choices")
    return Choice(values)


def _number(entry: Mapping[str, Any], key: str, field: str, *, integer: bool) -> Any:
    value = entry.get(key)
    wanted = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"must be {wanted}, got {value!r}", field=f"{field}.{key}")
    if integer and not isinstance(value, int):
        raise InvalidInputError(f"must be {wanted} for an int parameter, got {value!r}", field=f"{field}.{key}")
    return value


def _range(entry: Mapping[str, Any], kind: str, field: str) -> Parameter:
    integer = kind == "int"
    low = _number(entry, "low", field, integer=integer)
    high = _number(entry, "high", field, integer=integer)
    if low > high:
        raise InvalidInputError(f"low ({low}) is above high ({high})", field=f"{field}.low")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise InvalidInputError(f"log must be true or false, got {log!r}", field=f"{field}.log")
    if log and low <= 0:
        raise InvalidInputError("a log-scaled range needs low > 0", field=f"{field}.low")
    step = _number(entry, "step", field, integer=integer) if entry.get("step") is not None else None
    if step is not None and step <= 0:
        raise InvalidInputError(f"step must be positive, got {step}", field=f"{field}.step")
    if step is not None and log:
        raise InvalidInputError("step and log cannot be combined", field=f"{field}.step")
    if integer:
        return IntRange(int(low), int(high), log=log, step=int(step or 1))
    return FloatRange(float(low), float(high), log=log, step=None if step is None else float(step))
